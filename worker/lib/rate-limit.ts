import { AppError } from "./errors";

/** The period of every limiter in wrangler.toml (Workers rate limits allow 10 or 60 s). */
const PERIOD_SECONDS = 60;

/**
 * Workers Rate Limiting bindings: counters kept at the edge location, no
 * storage of ours. They are approximate by design — a guard against abuse,
 * not a quota (quotas are the credit ledger and plan limits).
 */
export async function enforceRateLimit(limiter: RateLimit, key: string): Promise<void> {
  const { success } = await limiter.limit({ key });
  if (!success) {
    throw new AppError("rate_limited", 429, `Too many requests. Try again in ${PERIOD_SECONDS} seconds.`, { retry_after: PERIOD_SECONDS }, {
      "Retry-After": String(PERIOD_SECONDS),
    });
  }
}

/**
 * The client's IP as Cloudflare reports it. Absent only when the request did
 * not come through Cloudflare's edge (unit tests calling the handler directly),
 * in which case there is no IP to limit by.
 */
export function clientIp(request: Request): string | null {
  return request.headers.get("cf-connecting-ip");
}
