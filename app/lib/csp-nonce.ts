import { createContext, useContext } from "react";

/**
 * The page's CSP nonce (worker/lib/security-headers.ts), provided by
 * entry.server.tsx so <Scripts> and <ScrollRestoration> mark their inline
 * scripts. In the browser there is no provider: the scripts already ran.
 */
export const CspNonce = createContext<string | undefined>(undefined);

export function useCspNonce(): string | undefined {
  return useContext(CspNonce);
}
