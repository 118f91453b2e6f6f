import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import type { AppConfig } from "../lib/config";
import type { Logger } from "../lib/log";
import type { Db } from "../db/client";
import * as schema from "../db/schema";
import { createMailer, type Mailer } from "./mailer";

export interface AuthDeps {
  db: Db;
  config: AppConfig;
  log: Logger;
  mailer?: Mailer;
}

/** How long a signed session cookie stands in for the session row (seconds). */
export const SESSION_COOKIE_CACHE_S = 5 * 60;

/**
 * A better-auth instance. Built once per isolate and env object
 * (`authFor`), not per request (ADR 0017, superseding ADR 0003): it holds
 * no request state — the request comes in through `handler` and
 * `api.getSession({headers})` — and env is one object per isolate.
 */
export function createAuth({ db, config, log, mailer = createMailer({ config, log, db }) }: AuthDeps) {
  const social: Record<string, { clientId: string; clientSecret: string }> = {};
  if (config.GITHUB_CLIENT_ID && config.GITHUB_CLIENT_SECRET) {
    social.github = { clientId: config.GITHUB_CLIENT_ID, clientSecret: config.GITHUB_CLIENT_SECRET };
  }
  if (config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET) {
    social.google = { clientId: config.GOOGLE_CLIENT_ID, clientSecret: config.GOOGLE_CLIENT_SECRET };
  }
  return betterAuth({
    appName: "Utter",
    baseURL: config.APP_URL,
    basePath: "/api/auth",
    secret: config.BETTER_AUTH_SECRET,
    trustedOrigins: [config.APP_URL, ...config.TRUSTED_ORIGINS],
    database: drizzleAdapter(db, {
      provider: "sqlite",
      schema: { user: schema.user, session: schema.session, account: schema.account, verification: schema.verification },
    }),
    emailAndPassword: {
      enabled: true,
      minPasswordLength: 8,
      maxPasswordLength: 128,
      autoSignIn: true,
      revokeSessionsOnPasswordReset: true,
      resetPasswordTokenExpiresIn: 60 * 60,
      sendResetPassword: async ({ user, url }) => {
        await mailer.send({
          to: user.email,
          subject: "Reset your Utter password",
          text: `Someone asked to reset the password of your Utter account. If it was you, open this link within an hour:\n\n${url}\n\nIf it was not, ignore this message.`,
        });
      },
    },
    socialProviders: social,
    user: {
      additionalFields: {
        plan: { type: "string", required: false, defaultValue: "free", input: false },
      },
    },
    session: {
      expiresIn: 60 * 60 * 24 * 30,
      updateAge: 60 * 60 * 24,
      // A signed copy of the session (and user) in a second cookie: most requests read no
      // session row. A revoked session or a changed user is seen within maxAge (ADR 0017).
      cookieCache: { enabled: true, maxAge: SESSION_COOKIE_CACHE_S, strategy: "compact" },
    },
    advanced: {
      useSecureCookies: config.APP_URL.startsWith("https://"),
      ipAddress: { ipAddressHeaders: ["cf-connecting-ip"] },
      defaultCookieAttributes: { httpOnly: true, sameSite: "lax" },
    },
    // Our own rate limiter guards the auth routes (worker/lib/rate-limit.ts).
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
  });
}
export type Auth = ReturnType<typeof createAuth>;

const instances = new WeakMap<object, Auth>();

/** The isolate's better-auth instance for this env (one per env object, so tests with other bindings get their own). */
export function authFor(env: object, deps: AuthDeps): Auth {
  let auth = instances.get(env);
  if (!auth) {
    auth = createAuth(deps);
    instances.set(env, auth);
  }
  return auth;
}
