/**
 * Starts Stripe's stripe-mock for the Worker tests (runs in Node, from
 * vitest.config.ts). stripe-mock validates each request against Stripe's API
 * description: an unknown or missing parameter gets `invalid_request_error`,
 * as Stripe itself would answer. It binds loopback only, on ports the system
 * chooses, and is stopped when the test process exits.
 */
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface StripeMock {
  origin: string;
  stop(): void;
}

export async function startStripeMock(): Promise<StripeMock> {
  const ensure = fileURLToPath(new URL("./ensure.sh", import.meta.url));
  const bin = execFileSync("bash", [ensure], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  // Both listeners on loopback ports the system picks: left alone, stripe-mock also binds HTTPS on a
  // fixed :12112, so a second stripe-mock on the machine (another suite running) exited with code 1.
  const child = spawn(bin, ["-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:"], { stdio: ["ignore", "pipe", "pipe"] });
  let stopping = false;
  const stop = () => {
    stopping = true;
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  process.once("exit", stop);
  const origin = await new Promise<string>((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /Listening for HTTP at address: (\S+):(\d+)/.exec(seen);
      if (m) resolve(`http://127.0.0.1:${m[2]}`);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`stripe-mock exited (${code}) before listening:\n${seen}`)));
    child.once("error", reject);
  });
  child.stdout.removeAllListeners("data");
  child.stderr.removeAllListeners("data");
  child.stdout.resume();
  child.stderr.resume();
  child.once("exit", (code, signal) => {
    if (!stopping) console.error(`stripe-mock stopped unexpectedly (code ${code}, signal ${signal}); billing tests will fail`);
  });
  // Let the test process exit when vitest is done; the exit hook stops stripe-mock.
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();
  return { origin, stop };
}

export { STRIPE_MOCK_HOST } from "./host";

/**
 * One request from the Worker's outbound service to stripe-mock, with only the
 * headers Stripe reads. A connection error is retried (a loaded test machine
 * can refuse a connection for a moment), then answered as a 502 naming it, so
 * a test fails with the cause rather than a bare 500.
 */
export async function forwardToStripeMock(mock: StripeMock, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const target = new URL(url.pathname + url.search, mock.origin);
  const headers = new Headers();
  for (const name of ["authorization", "content-type", "idempotency-key", "stripe-version"]) {
    const value = request.headers.get(name);
    if (value) headers.set(name, value);
  }
  const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
  let last: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await fetch(target, { method: request.method, headers, body });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
  const cause = last instanceof Error ? `${last.message}${last.cause instanceof Error ? `: ${last.cause.message}` : ""}` : String(last);
  return Response.json({ error: { type: "api_error", message: `stripe-mock unreachable at ${mock.origin}: ${cause}` } }, { status: 502 });
}
