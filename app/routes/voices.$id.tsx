import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { useEffect, useRef, useState } from "react";
import { LANGUAGES } from "../../worker/services/languages";
import { getOwnedVoice, voiceDetail, type voiceView } from "../../worker/services/voices";
import { LanguageSelect } from "../components/language-select";
import { RouteErrorBoundary } from "../components/route-error";
import { WaveformPlayer } from "../components/waveform-player";
import { actionResult, orErrorResponse } from "../lib/errors.server";
import { editVoiceFromForm } from "../lib/voice-edit.server";
import { formatBytes, formatDate, formatDurationWords, plural } from "../lib/format";
import { requireActionUser, requirePageUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: data ? `${data.voice.name} — Utter` : "Voice not found — Utter" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  // Someone else's voice id answers exactly like one that does not exist (DESIGN §7).
  const row = await orErrorResponse(getOwnedVoice(context.app, user.id, params.id ?? ""));
  return {
    voice: await voiceDetail(context.app, user.id, row),
    language: LANGUAGES.find((l) => l.code === row.language)?.name ?? row.language,
    // From the loader, not imported by the component: the languages module carries zod, which must stay off the page (CSP).
    languages: LANGUAGES.map((l) => ({ code: l.code, name: l.name })),
  };
}

/** Edits the voice's details with the same service and schema as `PATCH /api/voices/:id`. */
export async function action({ request, context, params }: ActionFunctionArgs) {
  const user = await requireActionUser(context, request);
  const form = await request.formData();
  return actionResult(editVoiceFromForm(context.app, user.id, params.id ?? "", form));
}

export { RouteErrorBoundary as ErrorBoundary };

function fieldError(result: ReturnType<typeof useActionData<typeof action>>, field: string): string | undefined {
  if (!result || result.ok) return undefined;
  const fields = (result.error.details as { fields?: { field: string; message: string }[] } | undefined)?.fields;
  return fields?.find((f) => f.field === field)?.message;
}

function EditDetails({ voice, languages }: { voice: ReturnType<typeof voiceView>; languages: { code: string; name: string }[] }) {
  const result = useActionData<typeof action>();
  const navigation = useNavigation();
  const [open, setOpen] = useState(false);
  const [language, setLanguage] = useState(voice.language);
  const summary = useRef<HTMLElement>(null);
  const saving = navigation.state === "submitting";
  useEffect(() => {
    if (result?.ok) {
      setOpen(false);
      summary.current?.focus();
    }
  }, [result]);
  const error = result && !result.ok && !fieldError(result, "name") && !fieldError(result, "transcript") && !fieldError(result, "description") ? result.error.message : null;
  return (
    <details className="card edit-voice" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary ref={summary}>Edit details</summary>
      <Form method="post" className="stack" key={voice.updated_at}>
        <div className="field">
          <label htmlFor="voice-name">Name</label>
          <input id="voice-name" name="name" defaultValue={voice.name} required maxLength={100} aria-invalid={fieldError(result, "name") ? true : undefined} />
          {fieldError(result, "name") ? <p className="field-error" role="alert">{fieldError(result, "name")}</p> : null}
        </div>
        <LanguageSelect languages={languages} value={language} onChange={setLanguage} />
        {voice.source !== "design" ? (
          <div className="field">
            <label htmlFor="voice-transcript">Transcript of the reference</label>
            <textarea id="voice-transcript" name="transcript" defaultValue={voice.transcript ?? ""} rows={4} maxLength={5000} aria-describedby="voice-transcript-hint" />
            <p id="voice-transcript-hint" className="hint">
              The exact words of the recording make the clone closer. Leave empty if you do not know them.
            </p>
            {fieldError(result, "transcript") ? <p className="field-error" role="alert">{fieldError(result, "transcript")}</p> : null}
          </div>
        ) : (
          <input type="hidden" name="transcript" value={voice.transcript ?? ""} />
        )}
        <div className="field">
          <label htmlFor="voice-description">Description</label>
          <textarea id="voice-description" name="description" defaultValue={voice.description ?? ""} rows={2} maxLength={500} />
          {fieldError(result, "description") ? <p className="field-error" role="alert">{fieldError(result, "description")}</p> : null}
        </div>
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={saving}>
            {saving ? "Saving…" : "Save details"}
          </button>
        </div>
      </Form>
    </details>
  );
}

export default function VoiceDetail() {
  const { voice, language, languages } = useLoaderData<typeof loader>();
  const source =
    voice.source === "design" ? "Designed from a description" : voice.source === "record" ? "Recorded in the browser" : "Uploaded";
  return (
    <section className="page voice-detail" data-testid="voice-detail" data-voice-id={voice.id}>
      <p>
        <Link to="/voices">← Your voices</Link>
      </p>
      <h1>
        {voice.name} {voice.favorite ? <span aria-label="favourite">★</span> : null}
      </h1>
      <p className="muted">
        {source} · {language} · {formatDurationWords(voice.duration_ms)} · {formatBytes(voice.size_bytes)} · used{" "}
        {plural(voice.usage_count, "time")} · added {formatDate(voice.created_at)}
      </p>
      <div className="card">
        <h2 className="small-heading">Reference recording</h2>
        <WaveformPlayer url={voice.audio_url} label={`Reference recording of ${voice.name}`} durationMs={voice.duration_ms} />
      </div>
      {voice.description ? (
        <div className="card">
          <h2 className="small-heading">Description</h2>
          <p>{voice.description}</p>
        </div>
      ) : null}
      {voice.transcript ? (
        <div className="card">
          <h2 className="small-heading">Transcript</h2>
          <p className="pre-wrap">{voice.transcript}</p>
        </div>
      ) : null}
      {voice.consent ? (
        <div className="card" data-testid="voice-consent">
          <h2 className="small-heading">Consent</h2>
          <p>
            You confirmed you have the right to use this voice on {formatDate(voice.consent.given_at)} (statement {voice.consent.statement_version}).
          </p>
          <p className="muted small">
            Recording fingerprint (SHA-256): <code className="break">{voice.consent.audio_sha256}</code>
          </p>
        </div>
      ) : null}
      <EditDetails voice={voice} languages={languages} />
      <div className="actions">
        <Link className="button primary" to={`/generate?voice=${encodeURIComponent(voice.id)}`}>
          Generate with this voice
        </Link>
        <Link className="button" to={`/history?voice_id=${encodeURIComponent(voice.id)}`}>
          Its history
        </Link>
      </div>
    </section>
  );
}
