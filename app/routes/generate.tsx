import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { data } from "@remix-run/cloudflare";
import { Link, useFetcher, useLoaderData, useRouteLoaderData, useSearchParams } from "@remix-run/react";
import { useEffect, useId, useRef, useState } from "react";
import { CreateGenerationBody, createGeneration, getOwnedGeneration, textLimitFor } from "../../worker/services/generations";
import { LANGUAGES } from "../../worker/services/languages";
import { LIMITS } from "../../worker/services/limits";
import { CHARACTERS_PER_CREDIT, generationCost, PLANS, type PlanId } from "../../worker/services/pricing";
import { getOwnedTask, getTaskSnapshot } from "../../worker/services/tasks";
import { listVoices } from "../../worker/services/voices";
import { LanguageSelect } from "../components/language-select";
import { PauseSelect } from "../components/pause-select";
import { RouteErrorBoundary } from "../components/route-error";
import { TaskRun } from "../components/task-run";
import { actionResult, failure, orErrorResponse } from "../lib/errors.server";
import { formatDurationWords, formatNumber } from "../lib/format";
import { SegmentPlayer } from "../lib/segment-player";
import { requireActionUser, requirePageUser } from "../lib/session.server";
import { isTerminal } from "../lib/task-state";
import type { loader as rootLoader } from "../root";
import { MakeVoiceActions } from "../components/make-voice-actions";
import { VoicePreview } from "../components/voice-preview";

export const meta: MetaFunction = () => [{ title: "Generate speech — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const ctx = context.app;
  const url = new URL(request.url);
  // The plan's own limit (Free 5,000, paid 50,000), from the stored plan; the Worker holds the task to it too.
  const [{ voices }, maxChars] = await Promise.all([listVoices(ctx, user.id, { sort: "usage", limit: 100 }), textLimitFor(ctx, user)]);
  const prefill = {
    voice: url.searchParams.get("voice") ?? "",
    text: (url.searchParams.get("text") ?? "").slice(0, LIMITS.textChars.max * 2),
    language: url.searchParams.get("language") ?? "",
  };
  // "Regenerate" for texts too long for a URL: prefill from the generation itself.
  const from = url.searchParams.get("from");
  if (from) {
    const g = await orErrorResponse(getOwnedGeneration(ctx, user.id, from));
    Object.assign(prefill, { voice: g.voiceId ?? "", text: g.text, language: g.language });
  }
  // Coming back to a running (or finished) job: start from its snapshot.
  let resume = null;
  const taskId = url.searchParams.get("task");
  if (taskId) {
    const row = await orErrorResponse(getOwnedTask(ctx, user.id, taskId));
    if (row.kind !== "generate") throw data("That job is not a speech generation.", { status: 404 });
    const snapshot = await getTaskSnapshot(ctx, user.id, taskId);
    const input = row.input as { text: string; language: string };
    resume = { snapshot };
    if (!prefill.text) Object.assign(prefill, { voice: row.voiceId ?? "", text: input.text, language: input.language });
  }
  const created = url.searchParams.get("created");
  return {
    voices: voices.map((v) => ({
      id: v.id,
      name: v.name,
      language: v.language,
      source: v.source,
      duration_ms: v.duration_ms,
      audio_url: v.audio_url,
    })),
    languages: LANGUAGES,
    maxChars,
    prefill,
    resume,
    createdVoice: created ? (voices.find((v) => v.id === created)?.name ?? null) : null,
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const form = await request.formData();
  const parsed = CreateGenerationBody.safeParse({
    voice_id: String(form.get("voice_id") ?? ""),
    text: String(form.get("text") ?? ""),
    language: String(form.get("language") ?? "auto"),
    ...(form.get("pause_ms") ? { pause_ms: Number(form.get("pause_ms")) } : {}),
  });
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? "");
    if (field === "voice_id") return failure("invalid_request", "Choose a voice.");
    if (field === "language") return failure("invalid_request", "Choose a language from the list.");
    if (field === "pause_ms") return failure("invalid_request", "Choose a pause from the list.");
    return failure("invalid_request", `Type between 1 and ${formatNumber(LIMITS.textChars.max)} characters.`);
  }
  return actionResult(createGeneration(context.app, user, parsed.data));
}

export { RouteErrorBoundary as ErrorBoundary };

export default function Generate() {
  const { voices, languages, maxChars, prefill, resume, createdVoice } = useLoaderData<typeof loader>();
  const root = useRouteLoaderData<typeof rootLoader>("root");
  const balance = root?.credits ?? 0;
  const fetcher = useFetcher<typeof action>();
  const [searchParams, setSearchParams] = useSearchParams();
  const initialVoice = voices.some((v) => v.id === prefill.voice) ? prefill.voice : (voices[0]?.id ?? "");
  const [voiceId, setVoiceId] = useState(initialVoice);
  const [text, setText] = useState(prefill.text);
  const [language, setLanguage] = useState(
    languages.some((l) => l.code === prefill.language) ? prefill.language : (voices.find((v) => v.id === initialVoice)?.language ?? "auto"),
  );
  const [languageTouched, setLanguageTouched] = useState(Boolean(prefill.language));
  const [pause, setPause] = useState("");
  const [clientError, setClientError] = useState<string | null>(null);
  const [run, setRun] = useState<{ taskId: string; player: SegmentPlayer | null } | null>(
    resume ? { taskId: resume.snapshot.task.id, player: null } : null,
  );
  const [preview, setPreview] = useState(false);
  const pendingPlayer = useRef<SegmentPlayer | null>(null);
  const textId = useId();
  const counterId = useId();
  const errorRef = useRef<HTMLParagraphElement>(null);
  const [running, setRunning] = useState(resume ? !isTerminal(resume.snapshot.task) : false);

  const chars = [...text].length;
  const trimmed = text.trim();
  const cost = trimmed ? generationCost(trimmed) : 0;
  const tooLong = chars > maxChars;
  const short = cost > balance;
  const voice = voices.find((v) => v.id === voiceId);
  const busy = fetcher.state !== "idle";
  // A plan that runs one job at a time cannot start another while this one runs: no "Generate another".
  const plan = PLANS[(root?.user?.plan ?? "free") as PlanId] ?? PLANS.free;
  const blockedByPlan = running && plan.concurrentJobs <= 1;
  const serverError = fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const error = clientError ?? serverError;

  // The action answered: follow the new task at once (its socket opens while Remix is still
  // revalidating the page's loaders, so the first frames are not held back by that round trip).
  const followed = useRef<typeof fetcher.data>(undefined);
  useEffect(() => {
    const d = fetcher.data;
    if (fetcher.state === "submitting" || !d || followed.current === d) return;
    followed.current = d;
    if (d.ok) {
      setRun({ taskId: d.value.task_id, player: pendingPlayer.current });
      setRunning(true);
      pendingPlayer.current = null;
    } else {
      pendingPlayer.current?.dispose();
      pendingPlayer.current = null;
    }
  }, [fetcher.state, fetcher.data]);

  // …and once that revalidation is over, put it in the URL so a reload comes back to it (a
  // navigation in the middle of the revalidation would interrupt it).
  const taskInUrl = searchParams.get("task");
  useEffect(() => {
    if (fetcher.state !== "idle" || !run || resume?.snapshot.task.id === run.taskId || taskInUrl === run.taskId) return;
    setSearchParams(
      (p) => {
        const next = new URLSearchParams(p);
        next.set("task", run.taskId);
        for (const k of ["text", "voice", "language", "from", "created"]) next.delete(k);
        return next;
      },
      { replace: true, preventScrollReset: true },
    );
  }, [fetcher.state, run, resume, taskInUrl, setSearchParams]);

  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setClientError(null);
    if (!voiceId) return setClientError("Choose a voice first, or make one on the Clone or Design page.");
    if (!trimmed) return setClientError("Type the text you want to hear.");
    if (tooLong) return setClientError(`Shorten the text to ${formatNumber(maxChars)} characters or fewer.`);
    // Made during the click, so the browser lets it play the first segment the moment it arrives.
    pendingPlayer.current?.dispose();
    try {
      pendingPlayer.current = new SegmentPlayer({ autoplay: true });
    } catch {
      pendingPlayer.current = null; // no Web Audio: the finished file still plays
    }
    fetcher.submit(e.currentTarget);
  }

  if (voices.length === 0) {
    return (
      <section className="page">
        <h1>Generate speech</h1>
        <div className="empty card">
          <h2>You need a voice first</h2>
          <p>Clone one from 10 seconds of audio, or describe one in words.</p>
          <MakeVoiceActions />
        </div>
      </section>
    );
  }

  return (
    <section className="page generate-page">
      <h1>Generate speech</h1>
      {createdVoice ? (
        <p className="notice" role="status">
          Your voice “{createdVoice}” is ready. Type something for it to say.
        </p>
      ) : null}
      <fetcher.Form
        method="post"
        onSubmit={submit}
        noValidate
        className="card form-card"
        aria-describedby={error ? "generate-error" : undefined}
      >
        <div className="grid-2">
          <div className="field">
            <label htmlFor="voice">Voice</label>
            <div className="inline">
              <select
                id="voice"
                name="voice_id"
                value={voiceId}
                onChange={(e) => {
                  setVoiceId(e.target.value);
                  setPreview(false);
                  const v = voices.find((x) => x.id === e.target.value);
                  if (v && !languageTouched) setLanguage(v.language);
                }}
              >
                {voices.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.name}
                  </option>
                ))}
              </select>
              <button type="button" className="button" onClick={() => setPreview((p) => !p)} aria-expanded={preview}>
                {preview ? "Hide" : "Listen"}
              </button>
            </div>
            {voice ? (
              <p className="hint">{`${voice.source === "design" ? "Designed" : voice.source === "record" ? "Recorded" : "Uploaded"} · ${formatDurationWords(voice.duration_ms)} reference`}</p>
            ) : null}
          </div>
          <LanguageSelect
            languages={languages}
            value={language}
            onChange={(code) => {
              setLanguage(code);
              setLanguageTouched(true);
            }}
            hint="The language of the text. Auto-detect works for most texts."
          />
          <PauseSelect value={pause} onChange={setPause} />
        </div>
        {preview && voice ? (
          <VoicePreview voice={voice} />
        ) : null}
        <div className="field">
          <label htmlFor={textId}>Text</label>
          <textarea
            id={textId}
            name="text"
            rows={9}
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setClientError(null);
            }}
            aria-describedby={counterId}
            aria-invalid={tooLong || undefined}
            placeholder={`Type or paste up to ${formatNumber(maxChars)} characters. Longer texts are split at sentence ends and start playing after the first sentences.`}
          />
          <p
            id={counterId}
            className={`counter${tooLong ? " over" : ""}`}
            data-testid="char-counter"
            data-chars={chars}
            data-credits={cost}
          >
            <span>
              {formatNumber(chars)} / {formatNumber(maxChars)} characters
            </span>
            <span>
              {formatNumber(cost)} {cost === 1 ? "credit" : "credits"}{" "}
              <span className="muted">(1 per {CHARACTERS_PER_CREDIT} characters)</span> · you have {formatNumber(balance)}
            </span>
          </p>
        </div>
        <input type="hidden" name="language" value={language} />
        {short && !tooLong ? (
          <p className="warning">
            This needs {formatNumber(cost)} credits and you have {formatNumber(balance)}. <Link to="/pricing">Get more credits</Link> or
            shorten the text.
          </p>
        ) : null}
        {error ? (
          <p id="generate-error" className="form-error" role="alert" tabIndex={-1} ref={errorRef}>
            {error}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy || tooLong || short || blockedByPlan} data-testid="generate-submit">
            {busy ? "Starting…" : running && !blockedByPlan ? "Generate another" : "Generate"}
          </button>
        </div>
        {blockedByPlan ? (
          <p className="hint" data-testid="one-job-hint">
            Your {plan.name} plan runs one job at a time: wait for this one to finish, or cancel it. <Link to="/pricing">More at once</Link>
          </p>
        ) : null}
      </fetcher.Form>
      {run ? (
        <TaskRun
          key={run.taskId}
          taskId={run.taskId}
          initial={resume?.snapshot.task.id === run.taskId ? resume.snapshot : null}
          player={run.player}
          progressive
          label="Speech progress"
          finalLabel="Your speech"
          download
          focusOnStart={resume?.snapshot.task.id !== run.taskId}
          onSettled={() => setRunning(false)}
        />
      ) : null}
    </section>
  );
}
