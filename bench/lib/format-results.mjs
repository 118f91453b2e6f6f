// Turns phase results into the tables printed on the console and written to docs/benchmarks.md.
import { mean, median, ms, seconds, summary, table } from "./stats.mjs";

const row = (label, s) => [label, s.n, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)];

export function phaseATables(a) {
  const latency = table(
    ["event → client", "events", "p50", "p90", "p99", "max"],
    [
      row("WebSocket: progress", a.ws.progress),
      row(`poll every ${a.pollMs / 1000} s: progress`, a.poll.progress),
      row("WebSocket: segment", a.ws.segment),
      row(`poll every ${a.pollMs / 1000} s: segment`, a.poll.segment),
    ],
  );
  const engineSide = table(
    ["engine → Worker call", "calls", "p50", "p90", "p99", "max"],
    [row("event POST round trip", a.ack), row(`segment PUT (${(a.upload.bytes / 1024).toFixed(0)} KiB)`, a.upload)],
  );
  const types = Object.entries(a.wsTypes)
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  const counts =
    `Events sent: ${a.eventsSent} (${Object.entries(a.byType)
      .map(([t, n]) => `${n} ${t}`)
      .join(", ")}) over ${seconds(a.durationMs)}. ` +
    `WebSocket messages: ${a.wsMessages} (${types}); seq ${a.seqFirst} → ${a.seqLast}, ` +
    `${a.seqGaps === 0 && a.seqNonIncreasing === 0 ? "strictly increasing with no gaps" : `${a.seqGaps} missing, ${a.seqNonIncreasing} out of order`}; ` +
    `events never seen on the socket: ${a.lostEvents.length ? a.lostEvents.join(", ") : "none"}. ` +
    `Polls: ${a.polls}, which saw ${a.pollDistinctProgress} of the ${a.byType.progress} progress values.`;
  return { latency, engineSide, counts };
}

const cell = (xs, f = ms) => {
  const v = xs.filter((x) => Number.isFinite(x));
  if (!v.length) return "—";
  return `${f(median(v))} (${f(Math.min(...v))}–${f(Math.max(...v))})`;
};

export function phaseBTable(runsBySize) {
  const sizes = Object.keys(runsBySize);
  const col = (fn, f) => sizes.map((s) => cell(runsBySize[s].map(fn), f));
  const n = (v) => String(Math.round(v));
  const rows = [
    ["characters", ...col((r) => r.chars, n)],
    ["POST /api/generations answered", ...col((r) => r.post)],
    ["engine received the job¹", ...col((r) => r.engine?.submitted)],
    ["socket open (snapshot received)", ...col((r) => r.socketOpen)],
    ["engine had the voice¹", ...col((r) => r.engine?.voiceReady)],
    ["**first `segment` on the socket**", ...col((r) => r.firstSegment)],
    ["**first segment fetched (playable)**", ...col((r) => r.playable)],
    [
      "first segment: audio / bytes",
      ...sizes.map(
        (s) =>
          `${cell(
            runsBySize[s].map((r) => r.seg0Ms),
            seconds,
          )} / ${cell(
            runsBySize[s].map((r) => r.seg0Bytes / 1024),
            (v) => `${Math.round(v)} KiB`,
          )}`,
      ),
    ],
    ["**completed on the socket**", ...col((r) => r.completed, seconds)],
    ["segments", ...col((r) => r.segments, n)],
    ["Σ segment durations", ...col((r) => r.sumSegMs, seconds)],
    ["final WAV (`completed` event)", ...col((r) => r.finalMs, seconds)],
    ["final WAV (downloaded file's header)", ...col((r) => r.finalWavMs, seconds)],
    ["final − Σ segments", ...col((r) => r.finalMs - r.sumSegMs)],
    [
      "audio seconds per wall-clock second",
      ...col(
        (r) => r.finalMs / r.completed,
        (v) => `${v.toFixed(1)}×`,
      ),
    ],
  ];
  return table(["time from POST: median (min–max)", ...sizes.map((s) => `${s} chars × ${runsBySize[s].length}`)], rows);
}

/** Where time-to-first-audio goes, per run, then as medians. */
export function breakdown(run) {
  const e = run.engine ?? {};
  const parts = {
    "POST, queue delivery, submit to engine": e.submitted,
    "engine: started event, reference download + voice analysis": e.voiceReady - e.submitted,
    "engine: synthesis of segment 0 (+ its event → socket)": run.firstSegment - e.voiceReady - (run.upload0 ?? 0),
    "segment 0 upload (PUT, as the Worker logged it)": run.upload0,
    "client fetches segment 0": run.playable - run.firstSegment,
  };
  return parts;
}

/** Means (they add up, unlike medians) with min–max, per stage. */
export function breakdownTable(runsBySize) {
  const sizes = Object.keys(runsBySize);
  const labels = Object.keys(breakdown(runsBySize[sizes[0]][0]));
  const meanCell = (xs) => {
    const v = xs.filter((x) => Number.isFinite(x));
    return v.length ? `${ms(mean(v))} (${ms(Math.min(...v))}–${ms(Math.max(...v))})` : "—";
  };
  const rows = labels.map((label) => [label, ...sizes.map((s) => meanCell(runsBySize[s].map((r) => breakdown(r)[label])))]);
  rows.push(["**= first segment playable**", ...sizes.map((s) => meanCell(runsBySize[s].map((r) => r.playable)))]);
  return table(["time to first audio, by stage: mean (min–max)", ...sizes.map((s) => `${s} chars`)], rows);
}

/**
 * The pipeline against the engine alone, run for run in the same bench: n, p50, p90, p99 and max
 * of time to the first segment and to completion, and what the platform adds at p50 and p99.
 */
export function baselineTable(runsBySize, baselineBySize) {
  const rows = [];
  for (const size of Object.keys(runsBySize)) {
    const pipe = runsBySize[size];
    const base = baselineBySize[size] ?? [];
    for (const [label, key] of [
      ["first segment", "firstSegment"],
      ["completed", "completed"],
    ]) {
      const p = summary(pipe.map((r) => r[key]).filter(Number.isFinite));
      const e = summary(base.map((r) => r[key]).filter(Number.isFinite));
      rows.push([`${size} chars: ${label}, pipeline`, p.n, ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)]);
      rows.push([`${size} chars: ${label}, engine only`, e.n, ms(e.p50), ms(e.p90), ms(e.p99), ms(e.max)]);
      rows.push([`${size} chars: ${label}, added by the platform`, "", ms(p.p50 - e.p50), "", ms(p.p99 - e.p99), ""]);
    }
  }
  return table(["time from the request", "n", "p50", "p90", "p99", "max"], rows);
}
