import { exports } from "cloudflare:workers";

export const ORIGIN = "http://localhost:8787";

/** Calls the Worker's own fetch handler, as a browser on our origin would. */
export function call(path: string, init: RequestInit & { json?: unknown; cookie?: string; origin?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
  }
  if (init.cookie) headers.set("cookie", init.cookie);
  // Browsers always send Host; Remix compares it with Origin before running an action.
  headers.set("host", new URL(ORIGIN).host);
  if (init.origin !== null) headers.set("origin", init.origin ?? ORIGIN);
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  return exports.default.fetch(new Request(new URL(path, ORIGIN), { ...init, headers, body, redirect: "manual" }));
}

/** Joins the name=value parts of Set-Cookie headers into a Cookie header. */
export function cookieFrom(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

let counter = 0;
export function uniqueEmail(tag = "user"): string {
  counter += 1;
  return `${tag}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
  cookie: string;
}

/** Signs up a fresh user through the real auth routes and returns their session cookie. */
export async function signUp(tag = "user"): Promise<TestUser> {
  const email = uniqueEmail(tag);
  const password = "correct horse battery";
  const res = await call("/api/auth/sign-up/email", { method: "POST", json: { email, password, name: tag } });
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string } };
  return { id: body.user.id, email, password, cookie: cookieFrom(res) };
}

/** A form POST body, as a browser submits a page form. */
export function form(fields: Record<string, string>): { body: FormData } {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  return { body };
}
