import type { AppConfig } from "../lib/config";
import { accountKey } from "./sign-in-throttle";

/**
 * A browser that signed in to an account gets a long-lived cookie naming that
 * account (an HMAC, not the email). It lets the owner past the per-account
 * sign-in wait, which an attacker without the cookie cannot skip; the per-IP
 * limit and the password check still apply. It authenticates nothing.
 */
export const KNOWN_DEVICE_COOKIE = "utter_known_device";
const MAX_AGE_S = 365 * 24 * 60 * 60;

async function tokenFor(secret: string, email: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`known-device:${accountKey(email)}`)));
  let s = "";
  for (const b of mac) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function cookieValue(headers: Headers, name: string): string | null {
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

export async function isKnownDevice(config: Pick<AppConfig, "BETTER_AUTH_SECRET">, headers: Headers, email: string): Promise<boolean> {
  const given = cookieValue(headers, KNOWN_DEVICE_COOKIE);
  if (!given) return false;
  const want = await tokenFor(config.BETTER_AUTH_SECRET, email);
  if (given.length !== want.length) return false;
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff |= want.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}

export async function knownDeviceCookie(config: Pick<AppConfig, "BETTER_AUTH_SECRET" | "APP_URL">, email: string): Promise<string> {
  const secure = config.APP_URL.startsWith("https://") ? "; Secure" : "";
  return `${KNOWN_DEVICE_COOKIE}=${await tokenFor(config.BETTER_AUTH_SECRET, email)}; Path=/; Max-Age=${MAX_AGE_S}; HttpOnly; SameSite=Lax${secure}`;
}
