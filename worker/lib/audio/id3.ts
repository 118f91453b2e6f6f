/**
 * Length in bytes of the ID3v2 tag at the start of `head` (header, body and optional footer), or
 * null if there is none. Taggers put ID3v2 before MP3 audio, and some before FLAC.
 */
export function id3v2Length(head: Uint8Array): number | null {
  if (head.length < 10 || head[0] !== 0x49 || head[1] !== 0x44 || head[2] !== 0x33) return null; // "ID3"
  const sizeBytes = head.subarray(6, 10);
  // The size is "syncsafe": 4 bytes of 7 bits each, so the top bit of each is always clear.
  if (sizeBytes.some((b) => b & 0x80)) return null;
  const size = (sizeBytes[0]! << 21) | (sizeBytes[1]! << 14) | (sizeBytes[2]! << 7) | sizeBytes[3]!;
  const hasFooter = (head[5]! & 0x10) !== 0;
  return 10 + size + (hasFooter ? 10 : 0);
}
