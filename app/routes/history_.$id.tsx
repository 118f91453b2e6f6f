import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Link, useFetcher, useLoaderData, useRevalidator } from "@remix-run/react";
import { useEffect, useId } from "react";
import * as z from "zod";
import { SEED_MAX } from "../../worker/engine/protocol";
import { getGenerationView } from "../../worker/services/generations";
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
  const [generation, takes] = await Promise.all([
    orErrorResponse(getGenerationView(context.app, user.id, id)),
    orErrorResponse(listTakes(context.app, user.id, id)),
  ]);
  return { generation, takes: takes.takes, seedMax: SEED_MAX };
}

const TakeForm = z.discriminatedUnion("intent", [
  z.object({ intent: z.literal("take"), seed: z.string().trim().optional() }),
  z.object({ intent: z.literal("prefer"), take: z.coerce.number().int().min(1) }),
]);

export async function action({ request, context, params }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const id = params.id ?? "";
  const parsed = TakeForm.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) return failure("invalid_request", "That request was not understood. Reload the page and try again.");
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

function TakeCard({ take, generationId, voiceName }: { take: TakeView; generationId: string; voiceName: string }) {
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
        <strong id={titleId}>Take {take.take}</strong>
        {take.preferred ? <span className="badge status-succeeded">In use</span> : null}
        <span className={`badge status-${take.status}`}>{statusLabel(take.status)}</span>
      </div>
      <p className="muted small">
        Seed <code data-testid="take-seed">{take.seed ?? "not recorded"}</code> · {take.duration_ms ? formatClock(take.duration_ms) : "—"} ·{" "}
        <span data-testid="take-charge">{takeCharge(take)}</span> · {formatDate(take.created_at)}
      </p>
      {take.status === "failed" && take.error ? <p className="field-error">{take.error.message}</p> : null}
      {take.audio_url ? (
        <WaveformPlayer
          url={take.audio_url}
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

export default function GenerationTakes() {
  const { generation: g, takes, seedMax } = useLoaderData<typeof loader>();
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
          <TakeCard key={t.take} take={t} generationId={g.id} voiceName={g.voice_name} />
        ))}
      </ul>
    </section>
  );
}
