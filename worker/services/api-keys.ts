import { and, desc, eq } from "drizzle-orm";
import * as z from "zod";
import type { Db } from "../db/client";
import { apiKeys, user as userTable } from "../db/schema";
import { errors } from "../lib/errors";
import { newId } from "../lib/ids";
import type { CurrentUser } from "./account";
import { API_KEY_SCOPES, ApiKeyScope, DEFAULT_SCOPES, formatScopes, parseStoredScopes } from "../auth/scopes";

/** Keys look like `utr_<40 hex>`; only their SHA-256 is stored (DESIGN §7). */
export const API_KEY_PREFIX = "utr_";
const MAX_KEYS = 10;

async function sha256Hex(s: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const CreateKeyBody = z.strictObject({
  name: z.string().trim().min(1, "must not be empty").max(100),
  /** What the key may do; all four when left out (ADR 0015). */
  scopes: z
    .array(ApiKeyScope)
    .min(1, "name at least one scope")
    .max(API_KEY_SCOPES.length)
    .optional()
    .transform((s) => [...new Set(s ?? DEFAULT_SCOPES)]),
});

export async function createApiKey(db: Db, userId: string, name: string, scopes: readonly ApiKeyScope[] = DEFAULT_SCOPES) {
  const existing = await db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.userId, userId)).all();
  if (existing.length >= MAX_KEYS) throw errors.conflict("too_many_keys", `You can have at most ${MAX_KEYS} API keys. Delete one first.`);
  const secret = [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const key = `${API_KEY_PREFIX}${secret}`;
  const id = newId("key");
  const now = new Date();
  const stored = formatScopes(scopes);
  await db.insert(apiKeys).values({ id, userId, name, hash: await sha256Hex(key), prefix: key.slice(0, 12), scopes: stored, createdAt: now }).run();
  return { id, name, key, prefix: key.slice(0, 12), scopes: parseStoredScopes(stored), created_at: now.toISOString() };
}

export async function listApiKeys(db: Db, userId: string) {
  const rows = await db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(desc(apiKeys.createdAt)).all();
  return rows.map((k) => ({
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: parseStoredScopes(k.scopes),
    created_at: k.createdAt.toISOString(),
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
  }));
}

export async function deleteApiKey(db: Db, userId: string, id: string) {
  const res = await db.delete(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).run();
  if (!res.meta.changes) throw errors.notFound("API key");
}

/** A key's "last used" moves at most this often: a busy key's reads then make no write. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * The user behind a bearer API key and what the key may do, or null. Its "last used" time is
 * written after the answer (`defer`, the request's waitUntil) and only when it is older than
 * LAST_USED_RESOLUTION_MS: a program reading in a loop costs one D1 read per request, not a
 * read and a write in sequence (issue 16: key reads ran at 0.62× /api/health).
 */
export async function keyForBearer(
  db: Db,
  key: string,
  opts: { now?: number; defer?: (work: Promise<unknown>) => void } = {},
): Promise<{ user: CurrentUser; scopes: ApiKeyScope[] } | null> {
  if (!key.startsWith(API_KEY_PREFIX) || key.length !== API_KEY_PREFIX.length + 40) return null;
  const row = await db
    .select({
      keyId: apiKeys.id,
      scopes: apiKeys.scopes,
      lastUsedAt: apiKeys.lastUsedAt,
      id: userTable.id,
      email: userTable.email,
      name: userTable.name,
      plan: userTable.plan,
    })
    .from(apiKeys)
    .innerJoin(userTable, eq(userTable.id, apiKeys.userId))
    .where(eq(apiKeys.hash, await sha256Hex(key)))
    .get();
  if (!row) return null;
  const now = opts.now ?? Date.now();
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    const touch = db.update(apiKeys).set({ lastUsedAt: new Date(now) }).where(eq(apiKeys.id, row.keyId)).run();
    if (opts.defer) opts.defer(touch);
    else await touch;
  }
  return { user: { id: row.id, email: row.email, name: row.name, plan: row.plan }, scopes: parseStoredScopes(row.scopes) };
}
