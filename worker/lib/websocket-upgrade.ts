/**
 * The headers of a WebSocket upgrade that a Durable Object needs to accept it, copied from the
 * client's request. `Sec-WebSocket-Extensions` is left out on purpose (ADR 0027): workerd agrees to
 * permessage-deflate whenever the request offers it (browsers always do), and the task's object
 * would then deflate every audio frame once per listener (and inflate every engine frame). PCM
 * barely compresses; on the 1,000-listener benchmark deflate was most of the fan-out's cost.
 */
const FORWARDED = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"] as const;

export function upgradeHeaders(from: Headers, extra: Record<string, string>): Headers {
  const headers = new Headers({ upgrade: "websocket", ...extra });
  for (const h of FORWARDED) {
    const v = from.get(h);
    if (v) headers.set(h, v);
  }
  return headers;
}
