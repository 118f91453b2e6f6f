/**
 * Starts Stripe's stripe-mock for the Worker tests (runs in Node, from
 * vitest.config.ts). stripe-mock validates each request against Stripe's API
 * description: an unknown or missing parameter gets `invalid_request_error`,
 * as Stripe itself would answer. It binds loopback only, on a port the system
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
  const child = spawn(bin, ["-http-addr", "127.0.0.1:"], { stdio: ["ignore", "pipe", "pipe"] });
  const stop = () => {
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
  // Let the test process exit when vitest is done; the exit hook stops stripe-mock.
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();
  return { origin, stop };
}

export { STRIPE_MOCK_HOST } from "./host";
