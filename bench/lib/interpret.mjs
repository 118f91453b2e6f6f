// The "## Pipeline latency" section: machine facts, method, tables, and what they mean.
import { baselineTable, breakdown, breakdownTable, phaseATables, phaseBTable } from "./format-results.mjs";
import { mean, median, ms, seconds } from "./stats.mjs";

export function interpretation({ machine, a, b, voice, runs }) {
  const out = [];
  out.push(
    `Measured ${machine.date} with \`npm run bench\` (\`bench/run.mjs\`) on ${machine.cpu}, ${machine.nproc} CPUs (\`nproc\`), ${machine.memGiB} GiB RAM, ` +
      `Node ${machine.node}, wrangler ${machine.wrangler}: a production build of the app under local \`wrangler dev\` (workerd with local D1, R2, Queues and ` +
      `Durable Objects), clients and engines in the same machine, all on 127.0.0.1. Load average (1 min) was ${machine.loadStart.toFixed(1)} at the start and ` +
      `${machine.loadEnd.toFixed(1)} at the end${machine.loadStart > machine.nproc || machine.loadEnd > machine.nproc ? ": the machine was busy with other work (builds, tests), so maxima and p99 are noisy and the minima are the best guide to the floor" : ""}.`,
  );
  if (a) {
    const t = phaseATables(a);
    out.push(
      `### A. Engine event → client`,
      `The bench plays the engine (a stub on \`node:http\`): for one generation it POSTs \`started\`, ${a.byType.progress} \`progress\` events 25–50 ms apart ` +
        `and, every 10th, a ${Math.round(a.upload.bytes / 1024)} KiB segment upload + \`segment\` event, then the final upload + \`completed\`, to the job's ` +
        `\`events_url\` with its token, stamping each send. A WebSocket client on \`/api/tasks/:id/ws\` stamps each message; a polling client calls ` +
        `\`GET /api/tasks/:id\` every ${a.pollMs / 1000} s, and an event counts as visible to it at the first answer whose progress (or segment count) includes it.`,
      t.latency,
      t.engineSide,
      t.counts,
    );
  }
  if (b) {
    out.push(
      `### B. Time to first playable segment (development engine)`,
      `The development engine (\`dev/engine\`, eSpeak NG) behind a second \`wrangler dev\` start. Each run POSTs \`/api/generations\` with natural English ` +
        `prose, opens the task socket as the browser does, downloads the first announced segment completely, and waits for \`completed\`. ` +
        `${runs} runs per size, sizes alternating, after one warm-up run that is not counted (it took ${seconds(b.warm.playable)} to first playable audio ` +
        `and ${seconds(b.warm.completed)} to complete: the first job after a start pays for cold code paths). Every run starts only once the engine reports ` +
        `no running job (\`GET /health\` \`active_jobs: 0\`, its MP3 step included), and each is paired with an engine-only run of the same size: the bench ` +
        `plays the Worker and submits straight to the engine, so the difference is what the Worker, queue, Durable Object and R2 add.`,
      phaseBTable(b.runs),
      "¹ from the development engine's JSON log (wall clock, ms precision).",
      breakdownTable(b.runs),
      ...(b.baseline ? [baselineTable(b.runs, b.baseline)] : []),
    );
  }
  out.push(
    "### What the figures say",
    bullets({ a, b })
      .map((x) => `- ${x}`)
      .join("\n"),
  );
  if (voice.via !== "api") out.push(`Note: the voice was written straight to D1 and R2 because ${voice.note}.`);
  return out.join("\n\n");
}

function bullets({ a, b }) {
  const out = [];
  if (a) {
    out.push(
      `**Push is ~${Math.round(a.poll.progress.p50 / a.ws.progress.p50)}× quicker than polling at the median.** A socket client sees an engine event ${ms(a.ws.progress.p50)} (p50) / ${ms(a.ws.progress.p99)} (p99) ` +
        `after the engine sent it: the callback route hands the event to the task's Durable Object, which broadcasts before it writes its state, so the ` +
        `message arrived before the engine's own POST had returned for ${a.wsBeforeAck} of ${a.eventsSent} events (POST round trip p50 ${ms(a.ack.p50)}). Polling every ${a.pollMs / 1000} s makes the same ` +
        `event visible after ${ms(a.poll.progress.p50)} (p50) and up to ${ms(a.poll.progress.max)}: on average half the interval, at worst the whole interval ` +
        `plus a request. It also sees only ${a.pollDistinctProgress} of ${a.byType.progress} progress steps (each answer is the latest state), and a ` +
        `segment waits for the next poll before it can start playing. Polling faster only trades that delay for requests (each one a Worker request, a D1 ` +
        `read and a Durable Object call); polling is the fallback, not the path for progressive playback.`,
      `**Nothing is lost on the socket.** ${a.wsMessages} messages for ${a.eventsSent} events, seq ${a.seqGaps === 0 && a.seqNonIncreasing === 0 ? "strictly increasing without gaps" : "NOT contiguous"}, ` +
        `every sent event seen${a.lostEvents.length ? ` except ${a.lostEvents.join(", ")}` : ""}.`,
    );
  }
  if (b) {
    const sizes = Object.keys(b.runs);
    const med = (s, f) => median(b.runs[s].map(f).filter(Number.isFinite));
    const stages = Object.keys(breakdown(b.runs[sizes[0]][0]));
    const all = sizes.flatMap((s) => b.runs[s]);
    const stageMean = Object.fromEntries(stages.map((k) => [k, mean(all.map((r) => breakdown(r)[k]).filter(Number.isFinite))]));
    const top = Object.entries(stageMean).sort((x, y) => y[1] - x[1]);
    const playableMean = mean(all.map((r) => r.playable));
    const synth = all.map((r) => breakdown(r)[stages[2]]).filter(Number.isFinite);
    const segs = sizes.map((s) => med(s, (r) => r.segments));
    const grows = med(sizes.at(-1), (r) => r.playable) > 1.5 * med(sizes[0], (r) => r.playable);
    out.push(
      `**Time to first audio ${grows ? "grows with the text" : "does not grow with the text"}.** The first segment was playable ${sizes.map((s) => `${ms(med(s, (r) => r.playable))} after the POST for ${s} characters`).join(" and ")} ` +
        `(medians), while the whole job took ${sizes.map((s) => seconds(med(s, (r) => r.completed))).join(" and ")}: the engine splits the text at sentences ` +
        `and ships segment 0 as soon as it exists, so the listener starts after one segment's work, not the whole text's.`,
      `**What it is made of** (means over all ${all.length} runs, ${ms(playableMean)} in total): ${top.map(([k, v]) => `${k.replace(/ \(.*\)$/, "")} ${ms(v)} (${Math.round((100 * v) / playableMean)} %)`).join("; ")}. ` +
        `${top[0][1] / playableMean > 0.5 ? `“${top[0][0].replace(/ \(.*\)$/, "")}” dominates` : `No single stage dominates with this engine; the largest share is “${top[0][0].replace(/ \(.*\)$/, "")}”`}. Queue delivery is not the bottleneck locally (\`max_batch_timeout = 0\`: ` +
        `the engine had the job about when the POST answered). eSpeak made the first segment in ${ms(Math.min(...synth))}–${ms(Math.max(...synth))}; with a real model (Qwen3-TTS on a GPU, ` +
        `plus any Modal cold start) synthesis of segment 0 is expected to dominate (not measured here), so the size of the first segment is the lever for time to first audio ` +
        `(the development engine's first segment here is ${seconds(med(sizes[0], (r) => r.seg0Ms))} of audio, ${Math.round(med(sizes[0], (r) => r.seg0Bytes) / 1024)} KiB).`,
      `**Upload and download are small change locally**: the segment PUT took ${ms(med(sizes[0], (r) => r.upload0))} and the client's complete fetch of ` +
        `segment 0 ${ms(med(sizes[0], (r) => r.playable - r.firstSegment))} (median, ${sizes[0]} characters). Over a real network they scale with the ` +
        `segment's ~${Math.round(med(sizes[0], (r) => r.seg0Bytes) / 1024)} KiB of 16-bit PCM.`,
      `**Durations add up.** The final file is shorter than the sum of its segments by ${sizes.map((s, i) => `${ms(-med(s, (r) => r.finalMs - r.sumSegMs))} for ${segs[i]} segments`).join(" and ")}: ` +
        `10 ms per join, the crossfade, as the protocol requires; the downloaded WAV's header agrees with the \`completed\` event.`,
    );
  }
  return out;
}
