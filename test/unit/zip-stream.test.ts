import { describe, expect, it } from "vitest";
import { crc32, zipStream } from "../../worker/lib/zip-stream";
import { readZip } from "../support/zip";

function source(bytes: Uint8Array, chunk = 7): () => Promise<ReadableStream<Uint8Array>> {
  return async () =>
    new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.subarray(i, i + chunk));
        c.close();
      },
    });
}

describe("zipStream", () => {
  it("crc32 matches the standard check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("writes stored entries that read back byte for byte, with their CRCs and UTF-8 names", async () => {
    const a = new Uint8Array(1000).map((_, i) => (i * 31) % 256);
    const b = new TextEncoder().encode("second file");
    const zip = new Uint8Array(
      await new Response(
        zipStream([
          { name: "première.wav", modified: new Date("2026-11-30T10:20:30Z"), open: source(a) },
          { name: "b.txt", modified: new Date("2026-11-30T10:20:30Z"), open: source(b, 3) },
        ]),
      ).arrayBuffer(),
    );
    const files = readZip(zip);
    expect(files.map((f) => f.name)).toEqual(["première.wav", "b.txt"]);
    expect(files[0]!.data).toEqual(a);
    expect(files[1]!.data).toEqual(b);
    expect(files[0]!.crc).toBe(crc32(a));
  });

  it("an empty archive is a valid end record", async () => {
    const zip = new Uint8Array(await new Response(zipStream([])).arrayBuffer());
    expect(zip.length).toBe(22);
    expect(readZip(zip)).toEqual([]);
  });
});
