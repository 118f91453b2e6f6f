import { AppError, errors } from "../lib/errors";

/** Parses a single `bytes=` range (the only kind audio players send). Multi-range is answered with the whole object. */
export function parseRange(header: string | null): R2Range | null | "invalid" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.includes(",") ? null : "invalid";
  const [, start, end] = m;
  if (start === "" && end === "") return "invalid";
  if (start === "") return { suffix: Number(end) };
  if (end === "") return { offset: Number(start) };
  const s = Number(start);
  const e = Number(end);
  if (e < s) return "invalid";
  return { offset: s, length: e - s + 1 };
}

export interface ServeOptions {
  contentType: string;
  downloadName?: string;
  /** Private audio: never cached by shared caches. */
  cacheControl?: string;
}

/**
 * Streams an R2 object with Range support (206 + Content-Range), a correct
 * Content-Type and `nosniff`. Ownership must be checked before calling.
 */
export async function serveObject(bucket: R2Bucket, key: string, request: Request, opts: ServeOptions): Promise<Response> {
  const range = parseRange(request.headers.get("range"));
  const head = await bucket.head(key);
  if (!head) throw errors.notFound("audio");
  const size = head.size;
  const headers = new Headers({
    "content-type": opts.contentType,
    "accept-ranges": "bytes",
    "x-content-type-options": "nosniff",
    "cache-control": opts.cacheControl ?? "private, max-age=3600",
    etag: head.httpEtag,
  });
  if (opts.downloadName) headers.set("content-disposition", `attachment; filename="${opts.downloadName.replace(/[^\w.-]+/g, "_")}"`);
  if (range === "invalid") {
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  if (request.method === "HEAD") {
    headers.set("content-length", String(size));
    return new Response(null, { status: 200, headers });
  }
  if (!range) {
    const obj = await bucket.get(key);
    if (!obj) throw errors.notFound("audio");
    headers.set("content-length", String(obj.size));
    return new Response(obj.body, { status: 200, headers });
  }
  let offset: number;
  let length: number;
  if ("suffix" in range) {
    length = Math.min(range.suffix, size);
    offset = size - length;
  } else {
    offset = range.offset ?? 0;
    length = range.length ?? size - offset;
  }
  if (offset >= size || length <= 0) {
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  length = Math.min(length, size - offset);
  const obj = await bucket.get(key, { range: { offset, length } });
  if (!obj) throw errors.notFound("audio");
  headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${size}`);
  headers.set("content-length", String(length));
  return new Response(obj.body, { status: 206, headers });
}

export class UploadTooLarge extends AppError {
  constructor(limit: number) {
    super("payload_too_large", 413, `The upload is larger than ${Math.round(limit / 1024 / 1024)} MB.`);
  }
}

/** Deletes every object under a prefix (R2 lists at most 1,000 keys a page). */
export async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<number> {
  let cursor: string | undefined;
  let deleted = 0;
  do {
    const page = await bucket.list({ prefix, cursor });
    if (page.objects.length) {
      await bucket.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return deleted;
}
