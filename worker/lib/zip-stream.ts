/**
 * A ZIP archive written as a stream: entries are stored (audio does not
 * compress), each followed by a data descriptor with its CRC-32 and size, so
 * no entry is ever held in memory. Sizes must stay under 4 GiB per archive
 * (no ZIP64); callers bound their input.
 */
export interface ZipEntry {
  name: string;
  modified: Date;
  /** The entry's bytes; read once, in order. */
  open(): Promise<ReadableStream<Uint8Array>>;
}

export const ZIP_MAX_BYTES = 0xffff_fffe;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getUTCFullYear());
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

const FLAGS = 0x0008 | 0x0800; // sizes in a data descriptor; UTF-8 names

export function zipStream(entries: ZipEntry[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const central: Uint8Array[] = [];
  let offset = 0;
  let index = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index === entries.length) {
        const start = offset;
        let size = 0;
        for (const c of central) {
          controller.enqueue(c);
          size += c.length;
        }
        const end = new DataView(new ArrayBuffer(22));
        end.setUint32(0, 0x06054b50, true);
        end.setUint16(8, entries.length, true);
        end.setUint16(10, entries.length, true);
        end.setUint32(12, size, true);
        end.setUint32(16, start, true);
        controller.enqueue(new Uint8Array(end.buffer));
        controller.close();
        return;
      }
      const entry = entries[index++]!;
      const name = encoder.encode(entry.name);
      const { time, date } = dosDateTime(entry.modified);
      const local = new DataView(new ArrayBuffer(30 + name.length));
      local.setUint32(0, 0x04034b50, true);
      local.setUint16(4, 20, true);
      local.setUint16(6, FLAGS, true);
      local.setUint16(10, time, true);
      local.setUint16(12, date, true);
      local.setUint16(26, name.length, true);
      new Uint8Array(local.buffer).set(name, 30);
      const headerAt = offset;
      controller.enqueue(new Uint8Array(local.buffer));
      offset += local.byteLength;

      let crc = 0;
      let size = 0;
      const reader = (await entry.open()).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        crc = crc32(r.value, crc);
        size += r.value.length;
        controller.enqueue(r.value);
      }
      offset += size;
      if (offset > ZIP_MAX_BYTES) throw new Error("archive larger than 4 GiB");

      const descriptor = new DataView(new ArrayBuffer(16));
      descriptor.setUint32(0, 0x08074b50, true);
      descriptor.setUint32(4, crc, true);
      descriptor.setUint32(8, size, true);
      descriptor.setUint32(12, size, true);
      controller.enqueue(new Uint8Array(descriptor.buffer));
      offset += 16;

      const cd = new DataView(new ArrayBuffer(46 + name.length));
      cd.setUint32(0, 0x02014b50, true);
      cd.setUint16(4, 20, true);
      cd.setUint16(6, 20, true);
      cd.setUint16(8, FLAGS, true);
      cd.setUint16(12, time, true);
      cd.setUint16(14, date, true);
      cd.setUint32(16, crc, true);
      cd.setUint32(20, size, true);
      cd.setUint32(24, size, true);
      cd.setUint16(28, name.length, true);
      cd.setUint32(42, headerAt, true);
      new Uint8Array(cd.buffer).set(name, 46);
      central.push(new Uint8Array(cd.buffer));
    },
  });
}
