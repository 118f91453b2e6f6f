import * as z from "zod";

/**
 * What an API key may do (ADR 0015). A browser session may do everything;
 * billing, API keys and account changes need a session whatever the key says,
 * so a leaked key cannot spend money, mint keys or take over the account.
 */
export const API_KEY_SCOPES = ["speech", "voices:read", "voices:write", "history"] as const;
export const ApiKeyScope = z.enum(API_KEY_SCOPES);
export type ApiKeyScope = z.infer<typeof ApiKeyScope>;

export const SCOPE_LABELS: Record<ApiKeyScope, string> = {
  speech: "Generate speech",
  "voices:read": "List and play voices",
  "voices:write": "Clone, design, rename and delete voices",
  history: "Read and delete history and the credit ledger",
};

/** What a route needs: a scope, one of several, any signed-in caller, or a browser session. */
export type Access = ApiKeyScope | readonly ApiKeyScope[] | "any" | "session";

/** Keys made before scopes existed, and keys made without naming any: all four. */
export const DEFAULT_SCOPES: readonly ApiKeyScope[] = API_KEY_SCOPES;

export function parseStoredScopes(stored: string): ApiKeyScope[] {
  return stored.split(/\s+/).filter((s): s is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(s));
}

export function formatScopes(scopes: readonly ApiKeyScope[]): string {
  return API_KEY_SCOPES.filter((s) => scopes.includes(s)).join(" ");
}
