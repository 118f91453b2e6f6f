/**
 * A streaming multipart/form-data reader. Workers' `request.formData()` holds
 * the whole body in memory; a 50 MB voice upload should not, so file parts are
 * handed to the caller chunk by chunk as they arrive and only a window the size
 * of the boundary is kept back.
 */
import { AppError } from "./errors";

export interface FilePart {
  name: string;
  filename: string;
  contentType: string;
  /** Must be consumed (or abandoned by throwing) before the next part is read. */
  chunks: AsyncIterable<Uint8Array>;
}

export interface MultipartHandlers {
  field(name: string, value: string): void | Promise<void>;
  file(part: FilePart): Promise<void>;
}

/**
 * Bounds checked while reading, before anything is buffered: a body without
 * Content-Length (chunked) could otherwise send any number of 64 KB text
 * fields, all held in memory until the handler saw the last one.
 */
export interface MultipartLimits {
  /** Parts of any kind. */
  maxParts: number;
  /** All text fields together, in bytes. */
  maxFieldBytes: number;
  /** The whole body, in bytes (files included). */
  maxBodyBytes: number;
}
const DEFAULT_LIMITS: MultipartLimits = { maxParts: 16, maxFieldBytes: 256 * 1024, maxBodyBytes: Number.POSITIVE_INFINITY };

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_FIELD_BYTES = 64 * 1024;

export function boundaryOf(contentType: string | null): string {
  const m = contentType ? /^multipart\/form-data;.*\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType) : null;
  const boundary = m ? (m[1] ?? m[2]) : undefined;
  if (!boundary || boundary.length > 200) throw new AppError("invalid_request", 400, "Send the form as multipart/form-data.");
  return boundary;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (let i = haystack.indexOf(first!, from); i !== -1 && i <= haystack.length - needle.length; i = haystack.indexOf(first!, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function malformed(): AppError {
  return new AppError("invalid_request", 400, "The upload was cut off or is not valid multipart/form-data.");
}

/** Reads the parts in order, streaming file parts to `handlers.file`. */
export async function readMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  handlers: MultipartHandlers,
  limits: Partial<MultipartLimits> = {},
): Promise<void> {
  const { maxParts, maxFieldBytes, maxBodyBytes } = { ...DEFAULT_LIMITS, ...limits };
  const reader = body.getReader();
  let buf: Uint8Array = new Uint8Array(0);
  let done = false;
  let bodyBytes = 0;
  let parts = 0;
  let fieldBytes = 0;
  const pull = async (): Promise<boolean> => {
    if (done) return false;
    const r = await reader.read();
    if (r.done) {
      done = true;
      return false;
    }
    bodyBytes += r.value.length;
    if (bodyBytes > maxBodyBytes) throw new AppError("payload_too_large", 413, "The form is larger than this endpoint accepts.");
    buf = concat(buf, r.value);
    return true;
  };
  const delimiter = enc.encode(`\r\n--${boundary}`);
  // The first boundary has no leading CRLF: pretend it had one.
  buf = enc.encode("\r\n");
  try {
    // Preamble, then the first delimiter.
    for (;;) {
      const at = indexOf(buf, delimiter);
      if (at !== -1) {
        buf = buf.subarray(at + delimiter.length);
        break;
      }
      if (buf.length > MAX_HEADER_BYTES) throw malformed();
      if (!(await pull())) throw malformed();
    }
    for (;;) {
      // After a delimiter: "--" ends the body, CRLF starts a part.
      while (buf.length < 2) if (!(await pull())) throw malformed();
      if (buf[0] === 45 && buf[1] === 45) return;
      if (buf[0] !== 13 || buf[1] !== 10) throw malformed();
      buf = buf.subarray(2);
      // Part headers.
      let end: number;
      while ((end = indexOf(buf, enc.encode("\r\n\r\n"))) === -1) {
        if (buf.length > MAX_HEADER_BYTES) throw malformed();
        if (!(await pull())) throw malformed();
      }
      const headers = parseHeaders(dec.decode(buf.subarray(0, end)));
      buf = buf.subarray(end + 4);
      const disposition = headers.get("content-disposition") ?? "";
      const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
      const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
      if (name === undefined) throw malformed();
      parts += 1;
      if (parts > maxParts) throw new AppError("too_many_parts", 413, `The form has more than ${maxParts} parts.`);

      // The part's body: everything up to the next delimiter.
      let finished = false;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for (;;) {
          const at = indexOf(buf, delimiter);
          if (at !== -1) {
            if (at > 0) yield buf.slice(0, at);
            buf = buf.subarray(at + delimiter.length);
            finished = true;
            return;
          }
          // Keep back what could be the start of a delimiter split across chunks.
          const safe = buf.length - (delimiter.length - 1);
          if (safe > 0) {
            const out = buf.slice(0, safe);
            buf = buf.subarray(safe);
            yield out;
          }
          if (!(await pull())) throw malformed();
        }
      }
      if (filename !== undefined) {
        await handlers.file({ name, filename, contentType: headers.get("content-type") ?? "application/octet-stream", chunks: chunks() });
        if (!finished) throw new AppError("invalid_request", 400, "The upload ended early.");
      } else {
        let size = 0;
        const parts: Uint8Array[] = [];
        for await (const c of chunks()) {
          size += c.length;
          fieldBytes += c.length;
          if (size > MAX_FIELD_BYTES) throw new AppError("invalid_request", 400, `The form field "${name}" is too long.`);
          if (fieldBytes > maxFieldBytes) throw new AppError("payload_too_large", 413, "The form's text fields are larger than this endpoint accepts.");
          parts.push(c);
        }
        await handlers.field(name, dec.decode(parts.reduce(concat, new Uint8Array(0))));
      }
    }
  } catch (err) {
    // Stop the sender: nothing more of this body will be read.
    await reader.cancel().catch(() => undefined);
    throw err;
  } finally {
    reader.releaseLock();
  }
}

function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}
