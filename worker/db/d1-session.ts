/**
 * D1 read replication through the Sessions API (ADR 0017). Each request runs
 * its queries in one D1 session: reads may be served by a replica near the
 * user, writes go to the primary, and the session is sequentially consistent.
 * A person always reads their own writes: the session's bookmark goes back
 * in a cookie, and their next request starts from it.
 */
export const D1_BOOKMARK_COOKIE = "utter_d1";

export interface D1RequestSession {
  /** The session, typed as the binding so services and drizzle use it unchanged. */
  db: D1Database;
  /** The Set-Cookie for the bookmark the next request should start from, if it moved. */
  bookmarkCookie(): string | null;
}

export function bookmarkFrom(cookieHeader: string | null): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(/;\s*/)) {
    const [name, ...rest] = part.split("=");
    if (name === D1_BOOKMARK_COOKIE) {
      const value = decodeURIComponent(rest.join("="));
      return /^[A-Za-z0-9-]{1,200}$/.test(value) ? value : null;
    }
  }
  return null;
}

/**
 * Writes start on the primary; reads start from the person's last bookmark,
 * or anywhere when they have none. Only requests that carry a session cookie
 * get a bookmark cookie back (engines and Stripe have no browser to keep it).
 */
export function openD1Session(d1: D1Database, request: { method?: string; cookie: string | null; secure: boolean }): D1RequestSession {
  const write = !["GET", "HEAD", "OPTIONS"].includes((request.method ?? "GET").toUpperCase());
  const given = bookmarkFrom(request.cookie);
  if (typeof d1.withSession !== "function") return { db: d1, bookmarkCookie: () => null };
  const session = d1.withSession(write ? "first-primary" : (given ?? "first-unconstrained"));
  const personal = !!request.cookie && /session_token=/.test(request.cookie);
  return {
    db: session as unknown as D1Database,
    bookmarkCookie() {
      const now = session.getBookmark();
      if (!personal || !now || now === given) return null;
      return `${D1_BOOKMARK_COOKIE}=${encodeURIComponent(now)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600${request.secure ? "; Secure" : ""}`;
    },
  };
}
