/** The PCM inside a RIFF/WAVE file the engines wrote, and a WAV header for a stream of unknown length. */
export interface WavPcm {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  pcm: Uint8Array;
}

export function pcmOfWav(bytes: Uint8Array): WavPcm {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("not a WAV file");
  let fmt: Omit<WavPcm, "pcm"> | null = null;
  for (let at = 12; at + 8 <= bytes.byteLength; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt ") {
      fmt = { channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bitsPerSample: view.getUint16(body + 14, true) };
    } else if (id === "data") {
      if (!fmt) throw new Error("WAV data before its fmt chunk");
      return { ...fmt, pcm: bytes.subarray(body, Math.min(body + size, bytes.byteLength)) };
    }
    at = body + size + (size % 2);
  }
  throw new Error("WAV file without a data chunk");
}

/**
 * A 44-byte WAV header for 16-bit mono PCM whose length is not known yet: the
 * RIFF and data sizes are the largest values, which players read as "until the
 * stream ends" (the convention of streaming TTS servers).
 */
export function streamingWavHeader(sampleRate: number): Uint8Array {
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  const put = (at: number, s: string) => [...s].forEach((ch, i) => (header[at + i] = ch.charCodeAt(0)));
  put(0, "RIFF");
  view.setUint32(4, 0xffffffff, true);
  put(8, "WAVE");
  put(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  put(36, "data");
  view.setUint32(40, 0xffffffff, true);
  return header;
}
