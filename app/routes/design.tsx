import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { data, redirect } from "@remix-run/cloudflare";
import { useFetcher, useLoaderData, useRouteLoaderData, useSearchParams } from "@remix-run/react";
import { useEffect, useId, useRef, useState } from "react";
import { LANGUAGES } from "../../worker/services/languages";
import { LIMITS } from "../../worker/services/limits";
import { DESIGN_PREVIEW_COST } from "../../worker/services/pricing";
import { getOwnedTask, getTaskSnapshot } from "../../worker/services/tasks";
import { createDesignPreview, DesignPreviewBody, saveDesignedVoice, SaveDesignBody } from "../../worker/services/voices";
import { LanguageSelect } from "../components/language-select";
import { RouteErrorBoundary } from "../components/route-error";
import { TaskRun } from "../components/task-run";
import { actionResult, failure, orErrorResponse } from "../lib/errors.server";
import { formatNumber } from "../lib/format";
import { requireActionUser, requirePageUser } from "../lib/session.server";
import type { loader as rootLoader } from "../root";

export const meta: MetaFunction = () => [{ title: "Design a voice — Utter" }];

const EXAMPLES = [
  "A warm, low-pitched male narrator in his fifties, calm and unhurried, like a late-night radio host.",
  "A bright, friendly young woman speaking quickly with a smile in her voice.",
  "An elderly storyteller with a slightly raspy voice, slow and deliberate.",
];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const url = new URL(request.url);
  let resume = null;
  const taskId = url.searchParams.get("task");
  if (taskId) {
    const row = await orErrorResponse(getOwnedTask(context.app, user.id, taskId));
    if (row.kind !== "design_preview") throw data("That job is not a voice preview.", { status: 404 });
    const input = row.input as { text: string; language: string; instruct?: string };
    resume = {
      snapshot: await getTaskSnapshot(context.app, user.id, taskId),
      description: input.instruct ?? "",
      text: input.text,
      language: input.language,
    };
  }
  return {
    languages: LANGUAGES,
    cost: DESIGN_PREVIEW_COST,
    limits: { description: LIMITS.designDescription.max, text: LIMITS.designText.max, name: LIMITS.voiceName.max },
    examples: EXAMPLES,
    resume,
  };
}

export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const form = await request.formData();
  const intent = String(form.get("intent") ?? "");
  if (intent === "save") {
    const parsed = SaveDesignBody.safeParse({ task_id: String(form.get("task_id") ?? ""), name: String(form.get("name") ?? "") });
    if (!parsed.success) return failure("invalid_request", `Give the voice a name (up to ${LIMITS.voiceName.max} characters).`);
    const saved = await actionResult(saveDesignedVoice(context.app, user, parsed.data));
    if ("ok" in saved && saved.ok) throw redirect(`/voices?saved=${encodeURIComponent(saved.value.voice.id)}`);
    return saved;
  }
  const parsed = DesignPreviewBody.safeParse({
    description: String(form.get("description") ?? ""),
    text: String(form.get("text") ?? ""),
    language: String(form.get("language") ?? "auto"),
  });
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? "");
    if (field === "description")
      return failure("invalid_request", `Describe the voice in 1 to ${LIMITS.designDescription.max} characters.`);
    if (field === "text") return failure("invalid_request", `Type a sample sentence of 1 to ${LIMITS.designText.max} characters.`);
    return failure("invalid_request", "Choose a language from the list.");
  }
  return actionResult(createDesignPreview(context.app, user, parsed.data));
}

export { RouteErrorBoundary as ErrorBoundary };

function SaveVoiceForm({ taskId, nameMax }: { taskId: string; nameMax: number }) {
  const fetcher = useFetcher<typeof action>();
  const [name, setName] = useState("");
  const id = useId();
  const error = fetcher.data && "ok" in fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  return (
    <fetcher.Form method="post" className="save-voice" noValidate>
      <input type="hidden" name="intent" value="save" />
      <input type="hidden" name="task_id" value={taskId} />
      <div className="field">
        <label htmlFor={id}>Name this voice</label>
        <div className="inline">
          <input
            id={id}
            name="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={nameMax}
            required
            autoComplete="off"
            data-testid="design-name"
          />
          <button type="submit" className="button primary" disabled={fetcher.state !== "idle" || !name.trim()} data-testid="design-save">
            {fetcher.state !== "idle" ? "Saving…" : "Save voice"}
          </button>
        </div>
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </fetcher.Form>
  );
}

export default function Design() {
  const { languages, cost, limits, examples, resume } = useLoaderData<typeof loader>();
  const root = useRouteLoaderData<typeof rootLoader>("root");
  const balance = root?.credits ?? 0;
  const fetcher = useFetcher<typeof action>();
  const [, setSearchParams] = useSearchParams();
  const [description, setDescription] = useState(resume?.description ?? "");
  const [text, setText] = useState(resume?.text ?? "Hello! This is how I sound. I can read your stories, lessons and messages aloud.");
  const [language, setLanguage] = useState(resume?.language ?? "en");
  const [taskId, setTaskId] = useState<string | null>(resume?.snapshot.task.id ?? null);
  const [fresh, setFresh] = useState(false);
  const [clientError, setClientError] = useState<string | null>(null);
  const descId = useId();
  const textId = useId();
  const errorRef = useRef<HTMLParagraphElement>(null);
  const busy = fetcher.state !== "idle";
  const serverError = fetcher.data && "ok" in fetcher.data && !fetcher.data.ok ? fetcher.data.error.message : null;
  const error = clientError ?? serverError;

  useEffect(() => {
    const d = fetcher.data;
    if (fetcher.state !== "idle" || !d || !("ok" in d) || !d.ok || !("task_id" in d.value)) return;
    const id = d.value.task_id;
    setTaskId(id);
    setFresh(true);
    setSearchParams({ task: id }, { replace: true, preventScrollReset: true });
  }, [fetcher.state, fetcher.data, setSearchParams]);

  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  function submit(e: React.FormEvent<HTMLFormElement>) {
    setClientError(null);
    if (!description.trim()) {
      e.preventDefault();
      setClientError("Describe the voice you want: age, pitch, pace, mood, accent…");
      return;
    }
    if (!text.trim()) {
      e.preventDefault();
      setClientError("Type a sample sentence for the preview to say.");
    }
  }

  return (
    <section className="page design-page">
      <h1>Design a voice</h1>
      <p className="lead">Describe a voice in words, hear a preview, and keep it if you like it. Each preview costs {cost} credits.</p>
      <fetcher.Form method="post" className="card form-card" onSubmit={submit} noValidate>
        <input type="hidden" name="intent" value="preview" />
        <div className="field">
          <label htmlFor={descId}>Description</label>
          <textarea
            id={descId}
            name="description"
            rows={3}
            maxLength={limits.description}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            aria-describedby={`${descId}-hint`}
            data-testid="design-description"
          />
          <p id={`${descId}-hint`} className="hint">
            {formatNumber([...description].length)} / {formatNumber(limits.description)} characters. For example:{" "}
            {examples.map((ex, i) => (
              <button key={i} type="button" className="link-button" onClick={() => setDescription(ex)}>
                “{ex.split(",")[0]}…”
              </button>
            ))}
          </p>
        </div>
        <div className="grid-2">
          <div className="field">
            <label htmlFor={textId}>Sample text</label>
            <textarea
              id={textId}
              name="text"
              rows={3}
              maxLength={limits.text}
              value={text}
              onChange={(e) => setText(e.target.value)}
              aria-describedby={`${textId}-hint`}
            />
            <p id={`${textId}-hint`} className="hint">
              What the preview says. {formatNumber([...text].length)} / {formatNumber(limits.text)} characters.
            </p>
          </div>
          <LanguageSelect languages={languages} value={language} onChange={setLanguage} />
        </div>
        {balance < cost ? (
          <p className="warning">
            A preview costs {cost} credits and you have {balance}. <a href="/pricing">Get more credits</a>.
          </p>
        ) : null}
        {error ? (
          <p className="form-error" role="alert" tabIndex={-1} ref={errorRef}>
            {error}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy || balance < cost} data-testid="design-submit">
            {busy ? "Starting…" : taskId ? "Make another preview" : `Preview (${cost} credits)`}
          </button>
        </div>
      </fetcher.Form>
      {taskId ? (
        <TaskRun
          key={taskId}
          taskId={taskId}
          initial={resume?.snapshot.task.id === taskId ? resume.snapshot : null}
          progressive={false}
          label="Voice preview progress"
          finalLabel="Preview"
          autoPlayFinal={fresh}
        >
          {() => <SaveVoiceForm taskId={taskId} nameMax={limits.name} />}
        </TaskRun>
      ) : null}
    </section>
  );
}
