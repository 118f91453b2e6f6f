/**
 * Writes a stream of unknown length into R2 with bounded memory: bytes are
 * gathered into fixed 5 MiB parts of a multipart upload (R2 wants every part
 * but the last to be the same size); a small object becomes one plain put.
 */
export const PART_SIZE = 5 * 1024 * 1024;

export interface R2Writer {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<{ size: number }>;
  /** Leaves nothing behind: aborts the multipart upload or deletes the object. */
  abort(): Promise<void>;
}

export function createR2Writer(bucket: R2Bucket, key: string, options: R2PutOptions & R2MultipartOptions = {}): R2Writer {
  let part = new Uint8Array(PART_SIZE);
  let filled = 0;
  let size = 0;
  let upload: R2MultipartUpload | null = null;
  const parts: R2UploadedPart[] = [];
  let closed = false;

  async function flush() {
    upload ??= await bucket.createMultipartUpload(key, options);
    parts.push(await upload.uploadPart(parts.length + 1, part));
    part = new Uint8Array(PART_SIZE);
    filled = 0;
  }

  return {
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, PART_SIZE - filled);
        part.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === PART_SIZE) await flush();
      }
      size += chunk.length;
    },
    async close() {
      closed = true;
      if (!upload) {
        await bucket.put(key, part.slice(0, filled), options);
        return { size };
      }
      if (filled > 0) parts.push(await upload.uploadPart(parts.length + 1, part.slice(0, filled)));
      await upload.complete(parts);
      return { size };
    },
    async abort() {
      try {
        if (upload && !closed) await upload.abort();
      } finally {
        await bucket.delete(key);
      }
    },
  };
}
