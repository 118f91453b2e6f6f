import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { CancelResponse, SubmitResponse } from "../../worker/engine/protocol.ts";
import type { JobRegistry } from "./job-registry.ts";
import type { Logger } from "./log.ts";
import { parseSubmit } from "./v2-wire.ts";

/**
 * The engine's side of protocols v1 and v2 over plain node:http: submit
 * (a protocol 2 submit names the task's socket, ADR 0009), cancel, health. Errors use the API's shape `{"error":{"code","message","details"?}}`.
 */
const MAX_BODY_BYTES = 1024 * 1024; // a SubmitRequest: up to 50,000 characters, 600 kB when every one is an escaped astral character
const CANCEL_PATH = /^\/jobs\/([^/]+)\/cancel$/;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function createEngineHttpServer(deps: { token: string; registry: JobRegistry; log: Logger }): Server {
  const expected = digest(`Bearer ${deps.token}`);
  const authorise = (req: IncomingMessage) => {
    // Compare digests so the check takes the same time whatever the header holds.
    if (!timingSafeEqual(digest(req.headers.authorization ?? ""), expected)) {
      throw new HttpError(401, "unauthorized", "missing or invalid engine token");
    }
  };

  async function route(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const path = new URL(req.url ?? "/", "http://engine").pathname;
    if (path === "/health") {
      if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      return { status: 200, body: { ok: true, engine: "dev", protocol: 2, protocols: [1, 2], active_jobs: deps.registry.activeCount() } };
    }
    if (path === "/jobs") {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      authorise(req);
      const parsed = parseSubmit(await readJson(req));
      if (!parsed.success) {
        const issues = parsed.issues;
        throw new HttpError(400, "invalid_request", issues.map((i) => `${i.path}: ${i.message}`).join("; "), { issues });
      }
      return { status: 202, body: SubmitResponse.parse({ call_id: deps.registry.submit(parsed.data) }) };
    }
    const cancel = CANCEL_PATH.exec(path);
    if (cancel) {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      authorise(req);
      req.resume(); // the body ("{}") carries nothing
      return { status: 202, body: CancelResponse.parse({ cancelled: deps.registry.cancel(decodeURIComponent(cancel[1]!)) }) };
    }
    throw new HttpError(404, "not_found", `no route for ${req.method} ${path}`);
  }

  return createServer((req, res) => {
    const started = performance.now();
    route(req)
      .catch((err: unknown) => {
        if (err instanceof HttpError)
          return {
            status: err.status,
            body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } },
          };
        deps.log.error("http_error", { method: req.method, url: req.url, error: err instanceof Error ? err.stack : String(err) });
        return { status: 500, body: { error: { code: "internal", message: "internal error" } } };
      })
      .then(({ status, body }) => {
        send(res, status, body);
        deps.log.info("http_request", { method: req.method, path: req.url, status, ms: Math.round(performance.now() - started) });
      });
  });
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    ...(status === 401 ? { "www-authenticate": "Bearer" } : {}),
  });
  res.end(json);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "payload_too_large", `body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "invalid_request", "body is not valid JSON");
  }
}
