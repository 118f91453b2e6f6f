import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Link, useFetcher, useLoaderData, useRevalidator, useSearchParams } from "@remix-run/react";
import { useEffect, useId } from "react";
import * as z from "zod";
import { SEED_MAX } from "../../worker/engine/protocol";
import { AppError } from "../../worker/lib/errors";
import { getGenerationView } from "../../worker/services/generations";
import { createPartTake, listParts, type PartView } from "../../worker/services/parts";
import { createTake, listTakes, setPreferredTake, type TakeView } from "../../worker/services/takes";
import { isActive } from "../../worker/tasks/lifecycle";
import { RouteErrorBoundary } from "../components/route-error";
import { WaveformPlayer } from "../components/waveform-player";
import { actionResult, failure, orErrorResponse } from "../lib/errors.server";
import { formatClock, formatDate, plural, statusLabel } from "../lib/format";
import { requireActionUser, requirePageUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "Takes — Utter" }];

/** How often the page looks again while a take is being made (the task dock follows it live). */
const REFRESH_MS = 1500;

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const id = params.id ?? "";
  // `?parts=N`: the parts of take N; by default those of the take in use.
  const asked = Number(new URL(request.url).searchParams.get("parts"));
  const partsTake = Number.isInteger(asked) && asked >= 1 ? asked : undefined;
  const [generation, takes] = await Promise.all([
    orErrorResponse(getGenerationView(context.app, user.id, id)),
    orErrorResponse(listTakes(context.app, user.id, id)),
  ]);
  const wanted = takes.takes.find((t) => t.take === (partsTake ?? takes.preferred_take));
  let parts: { take: number; parts: PartView[] } | { take: number; unavailable: string } | null = null;
  if (wanted?.status === "succeeded") {
    try {
      parts = { take: wanted.take, parts: (await listParts(context.app, user.id, id, wanted.take)).parts };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      parts = { take: wanted.take, unavailable: err.message };
    }
  }
  return { generation, takes: takes.takes, seedMax: SEED_MAX, parts };
}

const TakeForm = z.discriminatedUnion("intent", [
  z.object({ intent: z.literal("take"), seed: z.string().trim().optional() }),
  z.object({ intent: z.literal("prefer"), take: z.coerce.number().int().min(1) }),
  z.object({ intent: z.literal("part"), take: z.coerce.number().int().min(1), index: z.coerce.number().int().min(0) }),
]);

export async function action({ request, context, params }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const id = params.id ?? "";
  const parsed = TakeForm.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) return failure("invalid_request", "That request was not understood. Reload the page and try again.");
  if (parsed.data.intent === "part") {
    const { take, index } = parsed.data;
    return actionResult(createPartTake(context.app, user, id, index, { take }).then((t) => ({ intent: "part" as const, take: t.take, index })));
  }
  if (parsed.data.intent === "prefer") {
    const take = parsed.data.take;
    return actionResult(setPreferredTake(context.app, user.id, id, take).then(() => ({ intent: "prefer" as const, take })));
  }
  const raw = parsed.data.seed;
  const seed = raw ? Number(raw) : undefined;
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= SEED_MAX)) {
    return failure("invalid_request", `The seed must be a whole number from 0 to ${SEED_MAX}.`);
  }
  return actionResult(createTake(context.app, user, id, { seed }).then((t) => ({ intent: "take" as const, take: t.take })));
}

export { RouteErrorBoundary as ErrorBoundary };

/** What a take cost: success keeps it all; a stop keeps only what was delivered and says what went back. */
function takeCharge(t: TakeView): string {
  if (isActive(t.status)) return `${plural(t.cost, "credit")} reserved`;
  if (t.status === "succeeded") return plural(t.cost, "credit");
  if (t.charged) return `charged ${t.charged} of ${plural(t.cost, "credit")}, ${t.released ?? 0} released`;
  return `${plural(t.cost, "credit")} released (${t.status})`;
}

function TakeCard({ take, generationId, voiceName, sourceTake }: { take: TakeView; generationId: string; voiceName: string; sourceTake: number | null }) {
  const fetcher = useFetcher<typeof action>();
  const choosing = fetcher.state !== "idle";
  const error = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const titleId = useId();
  return (
    <li
      className={`take card${take.preferred ? " preferred" : ""}`}
      data-testid="take"
      data-take={take.take}
      data-status={take.status}
      data-preferred={take.preferred ? "true" : "false"}
      aria-labelledby={titleId}
    >
      <div className="take-head">
        <strong id={titleId}>
          Take {take.take}
          {take.part ? ` · part ${take.part.index + 1} regenerated` : null}
        </strong>
        {take.preferred ? <span className="badge status-succeeded">In use</span> : null}
        <span className={`badge status-${take.status}`}>{statusLabel(take.status)}</span>
      </div>
      <p className="muted small">
        Seed <code data-testid="take-seed">{take.seed ?? "not recorded"}</code> · {take.duration_ms ? formatClock(take.duration_ms) : "—"} ·{" "}
        <span data-testid="take-charge">{takeCharge(take)}</span> · {formatDate(take.created_at)}
      </p>
      {take.part ? (
        <p className="muted small" data-testid="take-part">
          Part {take.part.index + 1} rendered again{sourceTake ? `, the rest taken from take ${sourceTake}` : ""}.
        </p>
      ) : null}
      {take.status === "failed" && take.error ? <p className="field-error">{take.error.message}</p> : null}
      {take.part?.audio_url ? (
        <div className="part-audio">
          <span className="small muted">Just part {take.part.index + 1}</span>
          <audio controls preload="none" src={take.part.audio_url} aria-label={`Part ${take.part.index + 1} of take ${take.take}`} data-testid="take-part-player" />
        </div>
      ) : null}
      {take.audio_url ? (
        <WaveformPlayer
          url={take.audio_url}
          peaksUrl={take.peaks_url}
          label={`Take ${take.take} by ${voiceName}`}
          durationMs={take.duration_ms}
          height={40}
          downloadUrl={`${take.audio_url}${take.audio_url.includes("?") ? "&" : "?"}download=1`}
          downloadName={`utter-${generationId}-take-${take.take}.wav`}
          testId={`take-player-${take.take}`}
        />
      ) : null}
      <div className="history-actions">
        {isActive(take.status) ? (
          <Link className="button small" to={`/generate?task=${encodeURIComponent(take.task_id)}`}>
            Follow live
          </Link>
        ) : null}
        {take.status === "succeeded" ? (
          <Link className="button small" to={`?parts=${take.take}`} preventScrollReset aria-label={`Parts of take ${take.take}`}>
            Parts
          </Link>
        ) : null}
        {take.status === "succeeded" && !take.preferred ? (
          <fetcher.Form method="post">
            <input type="hidden" name="intent" value="prefer" />
            <input type="hidden" name="take" value={take.take} />
            <button type="submit" className="button small primary" disabled={choosing}>
              Use this take
            </button>
          </fetcher.Form>
        ) : null}
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </li>
  );
}

function PartRow({ part, take }: { part: PartView; take: number }) {
  const fetcher = useFetcher<typeof action>();
  const starting = fetcher.state !== "idle";
  const error = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const started = fetcher.data?.ok && fetcher.data.value.intent === "part" ? fetcher.data.value.take : null;
  const labelId = useId();
  return (
    <li className="part" data-testid="part" data-index={part.index} aria-labelledby={labelId}>
      <div className="part-head">
        <strong id={labelId}>Part {part.index + 1}</strong>
        <span className="muted small" data-testid="part-range">
          {formatClock(part.start_ms)}–{formatClock(part.end_ms)}
        </span>
      </div>
      {part.text ? <p className="part-text">{part.text}</p> : null}
      <audio controls preload="none" src={part.audio_url} aria-label={`Part ${part.index + 1} of take ${take}`} />
      <fetcher.Form method="post">
        <input type="hidden" name="intent" value="part" />
        <input type="hidden" name="take" value={take} />
        <input type="hidden" name="index" value={part.index} />
        <button type="submit" className="button small" disabled={starting} aria-describedby={labelId}>
          {starting ? "Starting…" : "Regenerate this part"}
        </button>
      </fetcher.Form>
      {started ? (
        <p className="small muted" role="status">
          Take {started} is rendering part {part.index + 1} again.
        </p>
      ) : null}
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </li>
  );
}

export default function GenerationTakes() {
  const { generation: g, takes, seedMax, parts } = useLoaderData<typeof loader>();
  const [search] = useSearchParams();
  const takeOfTask = new Map(takes.map((t) => [t.task_id, t.take]));
  const fetcher = useFetcher<typeof action>();
  const revalidator = useRevalidator();
  const seedId = useId();
  const making = fetcher.state !== "idle";
  const error = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const anyActive = takes.some((t) => isActive(t.status));
  useEffect(() => {
    if (!anyActive) return;
    const timer = setInterval(() => {
      if (revalidator.state === "idle" && document.visibilityState === "visible") revalidator.revalidate();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [anyActive, revalidator]);
  return (
    <section className="page takes-page">
      <div className="page-head">
        <h1>Takes</h1>
        <Link className="button" to="/history">
          Back to history
        </Link>
      </div>
      <div className="card">
        <p className="muted small">
          {g.voice_name || "Deleted voice"} · {plural(g.takes, "take")} · take {g.preferred_take} in use for downloads
        </p>
        <p className="history-text">{g.text}</p>
        {g.voice_id ? (
          <fetcher.Form method="post" className="take-form" data-testid="new-take-form">
            <input type="hidden" name="intent" value="take" />
            <div className="field">
              <label htmlFor={seedId}>Seed (optional)</label>
              <input id={seedId} name="seed" type="number" min={0} max={seedMax} step={1} inputMode="numeric" placeholder="random" />
            </div>
            <button type="submit" className="button primary" disabled={making}>
              {making ? "Starting…" : "New take"}
            </button>
            <span className="muted small">The same text and voice again, charged like a new generation ({plural(g.cost, "credit")}).</span>
          </fetcher.Form>
        ) : (
          <p className="muted small">The voice was deleted, so no new take can be made.</p>
        )}
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
      <ul className="takes-grid" aria-label="Takes">
        {takes.map((t) => (
          <TakeCard
            key={t.take}
            take={t}
            generationId={g.id}
            voiceName={g.voice_name}
            sourceTake={t.part ? (takeOfTask.get(t.part.source_task_id) ?? null) : null}
          />
        ))}
      </ul>
      {parts ? (
        <section className="card parts" aria-labelledby="parts-title" data-testid="parts" data-take={parts.take}>
          <h2 id="parts-title">Parts of take {parts.take}</h2>
          {"unavailable" in parts ? (
            <p className="muted small">{parts.unavailable}</p>
          ) : (
            <>
              <p className="muted small">
                Regenerate one part that came out wrong: only it is rendered again (charged for its text alone), the rest is kept as it is, and
                the result is a new take you can listen to and use.
                {search.get("parts") ? null : " These are the parts of the take in use; choose Parts on another take to see its own."}
              </p>
              <ol className="parts-list">
                {parts.parts.map((p) => (
                  <PartRow key={p.index} part={p} take={parts.take} />
                ))}
              </ol>
            </>
          )}
        </section>
      ) : null}
    </section>
  );
}
