import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useFetcher, useLoaderData, useSearchParams, useSubmit } from "@remix-run/react";
import { useId, useRef, useState } from "react";
import { deleteGeneration, GenerationQuery, listGenerations, type generationView } from "../../worker/services/generations";
import { LANGUAGES } from "../../worker/services/languages";
import { listVoices } from "../../worker/services/voices";
import { ConfirmDialog } from "../components/confirm-dialog";
import { RouteErrorBoundary } from "../components/route-error";
import { SpokenWords } from "../components/spoken-words";
import { SubtitleLinks } from "../components/subtitle-links";
import { WaveformPlayer } from "../components/waveform-player";
import { actionResult, failure } from "../lib/errors.server";
import { formatClock, formatDate, plural, statusLabel } from "../lib/format";
import { requireActionUser, requirePageUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "History — Utter" }];

type Generation = ReturnType<typeof generationView>;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const url = new URL(request.url);
  const raw = Object.fromEntries(url.searchParams);
  const parsed = GenerationQuery.safeParse({
    ...raw,
    search: raw.search || undefined,
    voice_id: raw.voice_id || undefined,
    status: raw.status || undefined,
  });
  const query = parsed.success ? parsed.data : GenerationQuery.parse({});
  const [page, voices] = await Promise.all([
    listGenerations(context.app, user.id, query),
    listVoices(context.app, user.id, { sort: "name", limit: 100 }),
  ]);
  return {
    generations: page.generations,
    nextCursor: page.next_cursor,
    query: { search: query.search ?? "", voice_id: query.voice_id ?? "", status: query.status ?? "", cursor: query.cursor ?? "" },
    voices: voices.voices.map((v) => ({ id: v.id, name: v.name })),
    languages: Object.fromEntries(LANGUAGES.map((l) => [l.code, l.name])) as Record<string, string>,
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const form = await request.formData();
  const id = String(form.get("id") ?? "");
  if (form.get("intent") !== "delete" || !id)
    return failure("invalid_request", "That request was not understood. Reload the page and try again.");
  return actionResult(deleteGeneration(context.app, user.id, id).then(() => ({ id })));
}

export { RouteErrorBoundary as ErrorBoundary };

/** Texts this long would make the URL too long for some proxies: regenerate by id instead. */
const MAX_TEXT_IN_URL = 1_500;

function regenerateHref(g: Generation): string | null {
  if (!g.voice_id) return null;
  if (encodeURIComponent(g.text).length > MAX_TEXT_IN_URL) return `/generate?from=${encodeURIComponent(g.id)}`;
  const p = new URLSearchParams({ voice: g.voice_id, text: g.text, language: g.language });
  return `/generate?${p}`;
}

const ACTIVE = new Set(["queued", "dispatched", "running"]);

/** What the job cost: a stopped one keeps only the credits of the parts it delivered (DESIGN §6). */
function chargeWords(g: Generation): string {
  if (g.status !== "failed" && g.status !== "cancelled") return plural(g.cost, "credit");
  if (g.charged) return `charged ${g.charged} of ${plural(g.cost, "credit")}`;
  return `${plural(g.cost, "credit")} refunded`;
}

/** The checkboxes of finished items belong to this form, which downloads them as one ZIP (works without JS). */
const ARCHIVE_FORM = "history-archive";

function GenerationItem({ g, languages }: { g: Generation; languages: Record<string, string> }) {
  const [playing, setPlaying] = useState(false);
  const [time, setTime] = useState(0);
  const [confirming, setConfirming] = useState(false);
  const [expanded, setExpanded] = useState(false);
  const fetcher = useFetcher<typeof action>();
  const deleteButton = useRef<HTMLButtonElement>(null);
  const textId = useId();
  const deleting = fetcher.state !== "idle";
  const error = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const regen = regenerateHref(g);
  const long = g.text.length > 240;
  const active = ACTIVE.has(g.status);
  return (
    <li
      className="history-item card"
      data-testid="history-item"
      data-generation-id={g.id}
      data-status={g.status}
      hidden={deleting}
      aria-describedby={textId}
    >
      <div className="history-head">
        {g.audio_url ? (
          <input
            type="checkbox"
            name="ids"
            value={g.id}
            form={ARCHIVE_FORM}
            className="history-select"
            aria-label={`Select for download: ${g.text.slice(0, 60)}`}
          />
        ) : null}
        <strong>{g.voice_name || "Deleted voice"}</strong>
        {g.voice_deleted ? <span className="badge">voice deleted</span> : null}
        <span className={`badge status-${g.status}`}>{statusLabel(g.status)}</span>
        {g.takes > 1 ? (
          <span className="badge" data-testid="history-takes">
            take {g.take} of {g.takes}
          </span>
        ) : null}
        <span className="muted small">
          {languages[g.language] ?? g.language} · {g.duration_ms ? formatClock(g.duration_ms) : "—"} · {chargeWords(g)} ·{" "}
          {formatDate(g.created_at)}
        </span>
      </div>
      <p id={textId} className="history-text">
        {long && !expanded ? `${g.text.slice(0, 240)}…` : g.text}{" "}
        {long ? (
          <button type="button" className="link-button" onClick={() => setExpanded((x) => !x)} aria-expanded={expanded}>
            {expanded ? "Show less" : "Show all"}
          </button>
        ) : null}
      </p>
      {g.status === "failed" && g.error ? (
        <p className="field-error">{(g.error as { message?: string }).message ?? "This job failed."}</p>
      ) : null}
      {playing && g.audio_url ? (
        <WaveformPlayer
          url={g.audio_url}
          peaksUrl={g.peaks_url}
          label={`Speech by ${g.voice_name}`}
          durationMs={g.duration_ms}
          autoPlay
          height={48}
          downloadUrl={`${g.audio_url}?download=1`}
          mp3DownloadUrl={g.formats.includes("mp3") ? `${g.audio_url}?format=mp3&download=1` : undefined}
          downloadName={`utter-${g.id}.wav`}
          subtitlesUrl={g.subtitles_url ?? undefined}
          onTime={g.subtitles_url ? setTime : undefined}
        />
      ) : null}
      {playing && g.subtitles_url ? (
        <SpokenWords url={`/api/tasks/${encodeURIComponent(g.task_id)}/artifacts/alignment`} time={time} />
      ) : null}
      <div className="history-actions">
        {g.audio_url ? (
          <>
            <button type="button" className="button small" onClick={() => setPlaying((p) => !p)} aria-expanded={playing}>
              {playing ? "Hide player" : "Play"}
            </button>
            {!playing ? (
              <a className="button small" href={`${g.audio_url}?download=1`} download={`utter-${g.id}.wav`}>
                Download WAV
              </a>
            ) : null}
            {!playing && g.formats.includes("mp3") ? (
              <a className="button small" href={`${g.audio_url}?format=mp3&download=1`} download={`utter-${g.id}.mp3`}>
                Download MP3
              </a>
            ) : null}
            {!playing && g.subtitles_url ? (
              <SubtitleLinks srtUrl={g.subtitles_url} downloadName={`utter-${g.id}.wav`} className="button small" />
            ) : null}
          </>
        ) : null}
        {active ? (
          <Link className="button small" to={`/generate?task=${encodeURIComponent(g.task_id)}`}>
            Follow live
          </Link>
        ) : null}
        {regen ? (
          <Link className="button small" to={regen}>
            Regenerate
          </Link>
        ) : null}
        <Link className="button small" to={`/history/${encodeURIComponent(g.id)}`} data-testid="history-takes-link">
          {g.takes > 1 ? `Takes (${g.takes})` : "Takes"}
        </Link>
        <button
          ref={deleteButton}
          type="button"
          className="button small danger"
          onClick={() => setConfirming(true)}
          disabled={deleting || active}
        >
          Delete
        </button>
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <ConfirmDialog
        open={confirming}
        title="Delete this speech?"
        confirmLabel="Delete"
        onCancel={() => {
          setConfirming(false);
          deleteButton.current?.focus();
        }}
        onConfirm={() => {
          setConfirming(false);
          fetcher.submit({ intent: "delete", id: g.id }, { method: "post" });
        }}
      >
        The audio file is deleted for good. Credits already spent are not returned.
      </ConfirmDialog>
    </li>
  );
}

export default function History() {
  const { generations, nextCursor, query, voices, languages } = useLoaderData<typeof loader>();
  const [params] = useSearchParams();
  const submit = useSubmit();
  const filtered = Boolean(query.search || query.voice_id || query.status);
  const older = new URLSearchParams(params);
  if (nextCursor) older.set("cursor", nextCursor);
  const newest = new URLSearchParams(params);
  newest.delete("cursor");
  return (
    <section className="page history-page">
      <div className="page-head">
        <h1>History</h1>
        <Link className="button primary" to="/generate">
          Generate speech
        </Link>
      </div>
      <Form
        method="get"
        className="filters card"
        role="search"
        aria-label="Filter history"
        onChange={(e) => submit(e.currentTarget, { replace: true, preventScrollReset: true })}
      >
        <div className="field grow">
          <label htmlFor="history-search">Search</label>
          <input
            id="history-search"
            type="search"
            name="search"
            defaultValue={query.search}
            placeholder="Words in the text or voice name"
          />
        </div>
        <div className="field">
          <label htmlFor="history-voice">Voice</label>
          <select id="history-voice" name="voice_id" defaultValue={query.voice_id}>
            <option value="">All voices</option>
            {voices.map((v) => (
              <option key={v.id} value={v.id}>
                {v.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="history-status">Status</label>
          <select id="history-status" name="status" defaultValue={query.status}>
            <option value="">Any</option>
            <option value="succeeded">Done</option>
            <option value="running">In progress</option>
            <option value="queued">Waiting</option>
            <option value="failed">Failed</option>
            <option value="cancelled">Cancelled</option>
          </select>
        </div>
        <noscript>
          <button type="submit" className="button">
            Apply
          </button>
        </noscript>
      </Form>
      <p className="visually-hidden" aria-live="polite">
        {filtered ? `${plural(generations.length, "result")}` : ""}
      </p>
      {generations.length === 0 ? (
        <div className="empty card" data-testid="history-empty">
          {filtered ? (
            <>
              <h2>Nothing matches</h2>
              <p>
                Try other words or <Link to="/history">clear the filters</Link>.
              </p>
            </>
          ) : (
            <>
              <h2>No speech yet</h2>
              <p>Everything you generate is kept here to play, download or make again.</p>
              <Link className="button primary" to="/generate">
                Generate speech
              </Link>
            </>
          )}
        </div>
      ) : (
        <>
          {generations.some((g) => g.audio_url) ? (
            <form id={ARCHIVE_FORM} method="get" action="/api/generations/archive" className="history-archive">
              <button type="submit" className="button small" data-testid="download-selected">
                Download selected as ZIP
              </button>
              <span className="muted small">Tick the speech to include (up to 100).</span>
            </form>
          ) : null}
          <ul className="history-list" aria-label="Generated speech">
            {generations.map((g) => (
              <GenerationItem key={g.id} g={g} languages={languages} />
            ))}
          </ul>
        </>
      )}
      <div className="pager">
        {query.cursor ? (
          <Link className="button" to={`/history?${newest}`}>
            Newest
          </Link>
        ) : null}
        {nextCursor ? (
          <Link className="button" to={`/history?${older}`}>
            Older
          </Link>
        ) : null}
      </div>
    </section>
  );
}
