// A signed-in API client for the bench: session cookie, Origin on changes
// (the Worker's CSRF check), timed task socket and polling helpers.
import { performance } from "node:perf_hooks";

export class ApiClient {
  constructor(origin) {
    this.origin = origin;
    this.cookies = new Map();
  }

  get cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(path, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", this.cookieHeader);
    headers.set("origin", this.origin);
    const res = await fetch(this.origin + path, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  }

  async json(path, init = {}, expect = [200, 201, 202]) {
    const res = await this.request(path, init);
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${init.method ?? "GET"} ${path} → ${res.status}: ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  }

  post(path, body) {
    return this.json(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }

  async signUp(email, password, name) {
    const r = await this.post("/api/auth/sign-up/email", { email, password, name });
    if (!this.cookies.size) throw new Error("sign-up set no session cookie");
    return r.user;
  }

  /** POST /api/voices (multipart); returns {status, body}. */
  async createVoice({ wav, name, language }) {
    const form = new FormData();
    form.set("name", name);
    form.set("language", language);
    // The consent statement's version (worker/services/voice-consent.ts, ADR 0016).
    form.set("consent", "voice-consent-2026-12");
    form.set("audio", new Blob([wav], { type: "audio/wav" }), "reference.wav");
    const res = await this.request("/api/voices", { method: "POST", body: form });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  }

  /** Downloads `path` completely; returns the bytes and when the last byte arrived. */
  async fetchAll(path) {
    const res = await this.request(path);
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { bytes, at: performance.now() };
  }

  /**
   * Opens the task's socket and records every message with its arrival time
   * (performance.now()). `ready` resolves on the snapshot, `done` on a terminal message.
   */
  openTaskSocket(taskId) {
    const url = `${this.origin.replace(/^http/, "ws")}/api/tasks/${taskId}/ws`;
    // Node 24's WebSocket (undici) takes request headers as an extension of the init object.
    const ws = new WebSocket(url, { headers: { cookie: this.cookieHeader, origin: this.origin } });
    const messages = [];
    const waiters = [];
    let resolveReady, rejectReady, resolveDone, rejectDone;
    const ready = new Promise((a, b) => ((resolveReady = a), (rejectReady = b)));
    const done = new Promise((a, b) => ((resolveDone = a), (rejectDone = b)));
    ws.onmessage = (e) => {
      const at = performance.now();
      if (typeof e.data !== "string") return; // live audio frames (protocol v2); the bench times the JSON messages
      const parsed = JSON.parse(e.data);
      // Several messages come as an array when they queued behind a large fan-out (ADR 0027).
      for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
        messages.push({ at, msg });
        if (msg.type === "snapshot") resolveReady(msg);
        if (["completed", "failed", "cancelled"].includes(msg.type)) resolveDone(msg);
        for (const w of [...waiters]) {
          if (!w.test(msg)) continue;
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve({ at, msg });
        }
      }
    };
    ws.onerror = (e) => {
      const err = new Error(`task socket error: ${e.message ?? e.type}`);
      rejectReady(err);
      rejectDone(err);
    };
    ws.onclose = (e) => rejectDone(new Error(`task socket closed early (${e.code})`));
    // Marked handled here; callers that await them still see the rejection.
    ready.catch(() => {});
    done.catch(() => {});
    return {
      ws,
      messages,
      ready,
      done,
      /** First message matching `test`, now or later. */
      waitFor(test) {
        const hit = messages.find((m) => test(m.msg));
        if (hit) return Promise.resolve(hit);
        return new Promise((resolve) => waiters.push({ test, resolve }));
      },
      close: () => ws.close(1000),
    };
  }

  /** Polls GET /api/tasks/:id every `intervalMs` until the task is terminal; records each answer. */
  pollTask(taskId, intervalMs) {
    const polls = [];
    let stop = false;
    const run = (async () => {
      for (;;) {
        const sent = performance.now();
        const snap = await this.json(`/api/tasks/${taskId}`);
        polls.push({ sent, at: performance.now(), progress: snap.task.progress, status: snap.task.status, segments: snap.segments.length });
        if (stop || ["succeeded", "failed", "cancelled"].includes(snap.task.status)) return polls;
        await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - sent))));
      }
    })();
    return { polls, done: run, stop: () => (stop = true) };
  }
}
