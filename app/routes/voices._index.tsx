import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useFetcher, useLoaderData, useNavigation, useSearchParams, useSubmit } from "@remix-run/react";
import { useEffect, useId, useRef, useState } from "react";
import * as z from "zod";
import { LANGUAGES } from "../../worker/services/languages";
import { LIMITS } from "../../worker/services/limits";
import { planOf } from "../../worker/services/pricing";
import { countVoices, deleteVoice, listVoices, updateVoice, VoiceQuery, type VoiceView } from "../../worker/services/voices";
import { ConfirmDialog } from "../components/confirm-dialog";
import { RouteErrorBoundary } from "../components/route-error";
import { actionResult, failure } from "../lib/errors.server";
import { formatDate, formatDurationWords, plural } from "../lib/format";
import { requireActionUser, requirePageUser } from "../lib/session.server";
import { MakeVoiceActions } from "../components/make-voice-actions";
import { VoicePreview } from "../components/voice-preview";

export const meta: MetaFunction = () => [{ title: "Your voices — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const url = new URL(request.url);
  const raw = Object.fromEntries(url.searchParams);
  const parsed = VoiceQuery.safeParse({
    ...raw,
    search: raw.search || undefined,
    source: raw.source || undefined,
    favorite: raw.favorite || undefined,
  });
  const query = parsed.success ? parsed.data : VoiceQuery.parse({});
  const page = await listVoices(context.app, user.id, query);
  const plan = planOf(user.plan);
  const filtered = Boolean(query.search || query.source || query.favorite);
  const total = filtered || page.next_cursor || query.cursor ? await countVoices(context.app, user.id) : page.voices.length;
  return {
    voices: page.voices,
    nextCursor: page.next_cursor,
    query: { search: query.search ?? "", source: query.source ?? "", favorite: query.favorite ?? "", sort: query.sort },
    filtered,
    total,
    voiceLimit: plan.voiceLimit,
    languages: Object.fromEntries(LANGUAGES.map((l) => [l.code, l.name])) as Record<string, string>,
    saved: url.searchParams.get("saved"),
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  // Inside the action so zod stays out of the browser bundle.
  const VoiceAction = z.discriminatedUnion("intent", [
    z.object({ intent: z.literal("rename"), id: z.string().min(1), name: z.string() }),
    z.object({ intent: z.literal("favorite"), id: z.string().min(1), favorite: z.enum(["true", "false"]) }),
    z.object({ intent: z.literal("delete"), id: z.string().min(1) }),
  ]);
  const parsed = VoiceAction.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) return failure("invalid_request", "That request was not understood. Reload the page and try again.");
  const a = parsed.data;
  if (a.intent === "rename") {
    const name = a.name.trim();
    if (!name || name.length > LIMITS.voiceName.max)
      return failure("invalid_request", `Use a name of 1 to ${LIMITS.voiceName.max} characters.`);
    return actionResult(updateVoice(context.app, user.id, a.id, { name }).then((voice) => ({ intent: a.intent, voice })));
  }
  if (a.intent === "favorite") {
    return actionResult(
      updateVoice(context.app, user.id, a.id, { favorite: a.favorite === "true" }).then((voice) => ({ intent: a.intent, voice })),
    );
  }
  return actionResult(deleteVoice(context.app, user.id, a.id).then(() => ({ intent: a.intent, id: a.id })));
}

export { RouteErrorBoundary as ErrorBoundary };

function sourceLabel(source: string): string {
  return source === "design" ? "Designed" : source === "record" ? "Recorded" : "Uploaded";
}

function RenameForm({ voice, onDone }: { voice: VoiceView; onDone: (renamed: boolean) => void }) {
  const fetcher = useFetcher<typeof action>();
  const [value, setValue] = useState(voice.name);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  const error = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  useEffect(() => {
    if (fetcher.state === "idle" && fetcher.data?.ok) onDone(true);
  }, [fetcher.state, fetcher.data, onDone]);
  return (
    <fetcher.Form
      method="post"
      className="rename-form"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          onDone(false);
        }
      }}
    >
      <input type="hidden" name="intent" value="rename" />
      <input type="hidden" name="id" value={voice.id} />
      <label htmlFor={id} className="visually-hidden">
        New name for {voice.name}
      </label>
      <input
        id={id}
        ref={input}
        name="name"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        maxLength={LIMITS.voiceName.max}
        required
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        data-testid="rename-input"
      />
      <button type="submit" className="button small primary" disabled={fetcher.state !== "idle" || !value.trim()}>
        Save
      </button>
      <button type="button" className="button small" onClick={() => onDone(false)}>
        Cancel
      </button>
      {error ? (
        <p id={`${id}-error`} className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </fetcher.Form>
  );
}

function VoiceCard({ voice, languages, highlight }: { voice: VoiceView; languages: Record<string, string>; highlight: boolean }) {
  const [renaming, setRenaming] = useState(false);
  const [playing, setPlaying] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const favFetcher = useFetcher<typeof action>();
  const delFetcher = useFetcher<typeof action>();
  const renameButton = useRef<HTMLButtonElement>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  // Optimistic: show the new state while the request is on its way.
  const favorite = favFetcher.formData ? favFetcher.formData.get("favorite") === "true" : voice.favorite;
  const deleting = delFetcher.state !== "idle";
  const error = [favFetcher.data, delFetcher.data].find((d) => d && !d.ok);
  const headingId = useId();

  return (
    <li
      className={`voice-card card${highlight ? " highlight" : ""}`}
      data-testid="voice-card"
      data-voice-id={voice.id}
      aria-labelledby={headingId}
      hidden={deleting}
    >
      <div className="voice-head">
        {renaming ? (
          <RenameForm
            voice={voice}
            onDone={() => {
              setRenaming(false);
              requestAnimationFrame(() => renameButton.current?.focus());
            }}
          />
        ) : (
          <h2 id={headingId} className="voice-name">
            <Link to={`/voices/${voice.id}`}>{voice.name}</Link>
          </h2>
        )}
        <favFetcher.Form method="post">
          <input type="hidden" name="intent" value="favorite" />
          <input type="hidden" name="id" value={voice.id} />
          <input type="hidden" name="favorite" value={String(!favorite)} />
          <button
            type="submit"
            className={`icon-button star${favorite ? " on" : ""}`}
            aria-pressed={favorite}
            aria-label={`Favourite ${voice.name}`}
          >
            <span aria-hidden="true">{favorite ? "★" : "☆"}</span>
          </button>
        </favFetcher.Form>
      </div>
      <p className="voice-meta muted small">
        {sourceLabel(voice.source)} · {languages[voice.language] ?? voice.language} · {formatDurationWords(voice.duration_ms)} · used{" "}
        {plural(voice.usage_count, "time")} · {formatDate(voice.created_at)}
      </p>
      {voice.description ? <p className="voice-desc small">{voice.description}</p> : null}
      {playing ? (
        <VoicePreview voice={voice} />
      ) : null}
      <div className="voice-actions">
        <button type="button" className="button small" onClick={() => setPlaying((p) => !p)} aria-expanded={playing}>
          {playing ? "Hide player" : "Preview"}
        </button>
        <Link className="button small primary" to={`/generate?voice=${encodeURIComponent(voice.id)}`}>
          Use
        </Link>
        {!renaming ? (
          <button ref={renameButton} type="button" className="button small" onClick={() => setRenaming(true)}>
            Rename
          </button>
        ) : null}
        <button ref={deleteButton} type="button" className="button small danger" onClick={() => setConfirming(true)} disabled={deleting}>
          Delete
        </button>
      </div>
      {error && !error.ok ? (
        <p className="form-error" role="alert">
          {error.error.message}
        </p>
      ) : null}
      <ConfirmDialog
        open={confirming}
        title={`Delete “${voice.name}”?`}
        confirmLabel="Delete voice"
        onCancel={() => {
          setConfirming(false);
          deleteButton.current?.focus();
        }}
        onConfirm={() => {
          setConfirming(false);
          delFetcher.submit({ intent: "delete", id: voice.id }, { method: "post" });
        }}
      >
        Its reference recording is deleted too. Speech you already made with it stays in your history.
      </ConfirmDialog>
    </li>
  );
}

export default function Voices() {
  const { voices, nextCursor, query, filtered, total, voiceLimit, languages, saved } = useLoaderData<typeof loader>();
  const [params] = useSearchParams();
  const submit = useSubmit();
  const navigation = useNavigation();
  const searching = navigation.state === "loading" && navigation.location?.pathname === "/voices";
  const nextParams = new URLSearchParams(params);
  if (nextCursor) nextParams.set("cursor", nextCursor);
  nextParams.delete("saved");

  return (
    <section className="page voices-page">
      <div className="page-head">
        <h1>Your voices</h1>
        <MakeVoiceActions />
      </div>
      <p className="muted">
        {plural(total, "voice")}
        {voiceLimit !== null ? ` of ${voiceLimit} on your plan` : ""}.
      </p>
      {saved ? (
        <p className="notice" role="status">
          Voice saved. It is ready to use.
        </p>
      ) : null}
      {total > 0 || filtered ? (
        <Form
          method="get"
          className="filters card"
          role="search"
          aria-label="Filter voices"
          onChange={(e) => submit(e.currentTarget, { replace: true, preventScrollReset: true })}
        >
          <div className="field grow">
            <label htmlFor="voice-search">Search</label>
            <input
              id="voice-search"
              type="search"
              name="search"
              defaultValue={query.search}
              placeholder="Name, transcript or description"
            />
          </div>
          <div className="field">
            <label htmlFor="voice-source">Source</label>
            <select id="voice-source" name="source" defaultValue={query.source}>
              <option value="">All</option>
              <option value="upload">Uploaded</option>
              <option value="record">Recorded</option>
              <option value="design">Designed</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="voice-sort">Sort by</label>
            <select id="voice-sort" name="sort" defaultValue={query.sort}>
              <option value="created">Newest</option>
              <option value="name">Name</option>
              <option value="usage">Most used</option>
            </select>
          </div>
          <div className="field checkbox">
            <input id="voice-fav" type="checkbox" name="favorite" value="true" defaultChecked={query.favorite === "true"} />
            <label htmlFor="voice-fav">Favourites only</label>
          </div>
          <noscript>
            <button type="submit" className="button">
              Apply
            </button>
          </noscript>
        </Form>
      ) : null}
      <div aria-live="polite" aria-busy={searching} className="visually-hidden">
        {filtered ? `${plural(voices.length, "voice")} found` : ""}
      </div>
      {voices.length === 0 ? (
        filtered ? (
          <div className="empty card" data-testid="voices-empty">
            <h2>No voices match</h2>
            <p>
              Try other words, or <Link to="/voices">show all voices</Link>.
            </p>
          </div>
        ) : (
          <div className="empty card" data-testid="voices-empty">
            <h2>No voices yet</h2>
            <p>Clone a voice from 10 seconds of audio, or describe one in words. Your voices appear here, private to you.</p>
            <MakeVoiceActions />
          </div>
        )
      ) : (
        <ul className="voice-list" aria-label="Voices">
          {voices.map((v) => (
            <VoiceCard key={v.id} voice={v} languages={languages} highlight={v.id === saved} />
          ))}
        </ul>
      )}
      {nextCursor ? (
        <p>
          <Link to={`/voices?${nextParams}`} className="button">
            More voices
          </Link>
        </p>
      ) : null}
    </section>
  );
}
