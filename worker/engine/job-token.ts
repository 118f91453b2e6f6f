/**
 * Job tokens: minted per job, HMAC-SHA256 signed, scoped to one job id and
 * expiring. The engine presents one as a bearer on every callback, upload and
 * reference download; a token for job A is useless for job B (DESIGN §4).
 *
 * Format: `v1.<base64url(JSON {j, e})>.<base64url(hmac)>`.
 */
import * as z from "zod";

const Payload = z.object({ j: z.string().min(1), e: z.number().int() });

const enc = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

async function key(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

export async function mintJobToken(secret: string, jobId: string, expiresAt: Date): Promise<string> {
  const body = b64url(enc.encode(JSON.stringify({ j: jobId, e: Math.floor(expiresAt.getTime() / 1000) })));
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await key(secret), enc.encode(`v1.${body}`)));
  return `v1.${body}.${b64url(sig)}`;
}

export type TokenCheck = { ok: true } | { ok: false; status: 401 | 403; reason: "missing" | "malformed" | "bad_signature" | "expired" | "wrong_job" };

/** Verifies a token for `jobId`; the signature is checked in constant time by WebCrypto. */
export async function verifyJobToken(secret: string, token: string | null, jobId: string, now = Date.now()): Promise<TokenCheck> {
  if (!token) return { ok: false, status: 401, reason: "missing" };
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== "v1") return { ok: false, status: 401, reason: "malformed" };
  const sig = fromB64url(parts[2]!);
  const body = fromB64url(parts[1]!);
  if (!sig || !body) return { ok: false, status: 401, reason: "malformed" };
  const valid = await crypto.subtle.verify("HMAC", await key(secret), sig, enc.encode(`v1.${parts[1]}`));
  if (!valid) return { ok: false, status: 401, reason: "bad_signature" };
  let payload: z.infer<typeof Payload>;
  try {
    payload = Payload.parse(JSON.parse(new TextDecoder().decode(body)));
  } catch {
    return { ok: false, status: 401, reason: "malformed" };
  }
  if (payload.e * 1000 < now) return { ok: false, status: 401, reason: "expired" };
  if (payload.j !== jobId) return { ok: false, status: 403, reason: "wrong_job" };
  return { ok: true };
}

export function bearer(request: Request): string | null {
  const h = request.headers.get("authorization");
  const m = h ? /^Bearer\s+(.+)$/i.exec(h) : null;
  return m ? m[1]!.trim() : null;
}
