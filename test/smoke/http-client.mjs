// A tiny cookie-keeping client for the smoke and e2e scripts.
export function createClient(origin) {
  let cookie = "";
  async function call(path, init = {}) {
    const headers = new Headers(init.headers);
    headers.set("origin", origin);
    if (cookie) headers.set("cookie", cookie);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    const res = await fetch(new URL(path, origin), { ...init, headers, body, redirect: "manual" });
    const set = res.headers.getSetCookie();
    if (set.length) {
      const jar = new Map(cookie ? cookie.split("; ").map((c) => c.split(/=(.*)/s).slice(0, 2)) : []);
      for (const c of set) {
        const [pair] = c.split(";");
        const [k, v] = pair.split(/=(.*)/s);
        if (/max-age=0/i.test(c)) jar.delete(k);
        else jar.set(k, v);
      }
      cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    }
    return res;
  }
  return { call, cookie: () => cookie };
}

/** A mono 16-bit WAV with a voice-like tone (pitch `f0`, syllable-rate amplitude modulation). */
export function voiceLikeWav(seconds, { sampleRate = 16000, f0 = 140 } = {}) {
  const n = Math.round(seconds * sampleRate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
    const s = env * (0.5 * Math.sin(2 * Math.PI * f0 * t) + 0.25 * Math.sin(4 * Math.PI * f0 * t) + 0.12 * Math.sin(6 * Math.PI * f0 * t));
    buf.writeInt16LE(Math.round(s * 0.6 * 32767), 44 + i * 2);
  }
  return buf;
}

export function wavInfo(bytes) {
  const b = Buffer.from(bytes);
  if (b.toString("ascii", 0, 4) !== "RIFF" || b.toString("ascii", 8, 12) !== "WAVE") throw new Error("not a WAV");
  let off = 12;
  let fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString("ascii", off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === "fmt ") fmt = { channels: b.readUInt16LE(off + 10), sampleRate: b.readUInt32LE(off + 12), byteRate: b.readUInt32LE(off + 16) };
    if (id === "data") {
      if (!fmt) throw new Error("data before fmt");
      const dataBytes = Math.min(size, b.length - off - 8);
      return { ...fmt, durationMs: (dataBytes / fmt.byteRate) * 1000 };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}

/** ~`chars` characters of varied English prose (sentences of different lengths). */
export function prose(chars) {
  const sentences = [
    "The morning train slid into the station just as the fog began to lift.",
    "Nobody on the platform seemed to notice the violinist in the corner.",
    "She played a slow waltz, and for a moment the whole crowd went quiet.",
    "Then a whistle blew.",
    "Doors opened, coffee spilled, and the city resumed its ordinary hurry.",
    "Years later, several passengers would remember that melody without knowing why.",
    "Memory is strange like that: it keeps what we never meant to save.",
    "Is it possible to miss a place you only passed through once?",
    "The violinist, for her part, never played at that station again.",
    "But every spring, when the fog returns, someone hums those first few notes.",
  ];
  let out = "";
  for (let i = 0; out.length < chars; i++) out += (out ? " " : "") + sentences[i % sentences.length];
  return out.slice(0, chars).replace(/\s+\S*$/, ".");
}
