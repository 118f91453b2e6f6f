import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Link, useLoaderData, useNavigate } from "@remix-run/react";
import { useEffect, useId, useRef, useState, type DragEvent } from "react";
import { LANGUAGES } from "../../worker/services/languages";
import { LIMITS } from "../../worker/services/limits";
import { planOf } from "../../worker/services/pricing";
import { countVoices, type VoiceView } from "../../worker/services/voices";
import { CONSENT_STATEMENT, CONSENT_STATEMENT_VERSION } from "../../worker/services/voice-consent";
import { LanguageSelect } from "../components/language-select";
import { Recorder, type Recording } from "../components/recorder";
import { RouteErrorBoundary } from "../components/route-error";
import { ProgressBar } from "../components/task-progress";
import { describeError, uploadForm } from "../lib/api";
import { formatBytes, formatClock, formatNumber } from "../lib/format";
import { requirePageUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "Clone a voice — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  const voiceCount = await countVoices(context.app, user.id);
  const plan = planOf(user.plan);
  return {
    languages: LANGUAGES,
    limits: {
      minMs: LIMITS.referenceDurationMs.min,
      maxMs: LIMITS.referenceDurationMs.max,
      maxBytes: LIMITS.referenceBytes,
      nameMax: LIMITS.voiceName.max,
      transcriptMax: LIMITS.transcriptChars,
    },
    voiceCount,
    voiceLimit: plan.voiceLimit,
    planName: plan.name,
    consent: { version: CONSENT_STATEMENT_VERSION, statement: CONSENT_STATEMENT },
  };
}

export { RouteErrorBoundary as ErrorBoundary };

const ACCEPT = ".wav,.mp3,.m4a,.aac,.ogg,.oga,.opus,.webm,.flac,audio/*";
const AUDIO_EXT = /\.(wav|mp3|m4a|aac|mp4|ogg|oga|opus|webm|flac)$/i;

type Source = "upload" | "record";
type Phase = { kind: "idle" } | { kind: "uploading"; loaded: number; total: number } | { kind: "processing" };

/** Reads a file's length with an <audio> element; null when the browser cannot tell (recorded WEBM often). */
function probeDuration(file: File): Promise<number | null> {
  return new Promise((resolve) => {
    const audio = document.createElement("audio");
    const url = URL.createObjectURL(file);
    const done = (v: number | null) => {
      URL.revokeObjectURL(url);
      resolve(v);
    };
    audio.preload = "metadata";
    audio.onloadedmetadata = () => done(Number.isFinite(audio.duration) ? audio.duration * 1000 : null);
    audio.onerror = () => done(null);
    setTimeout(() => done(null), 4000);
    audio.src = url;
  });
}

export default function Clone() {
  const { languages, limits, voiceCount, voiceLimit, planName, consent } = useLoaderData<typeof loader>();
  const navigate = useNavigate();
  const [source, setSource] = useState<Source>("upload");
  const [file, setFile] = useState<File | null>(null);
  const [fileDuration, setFileDuration] = useState<number | null>(null);
  const [recording, setRecording] = useState<Recording | null>(null);
  const [dragging, setDragging] = useState(false);
  const [name, setName] = useState("");
  // A name taken from the file follows the file; one the person typed stays.
  const [nameTyped, setNameTyped] = useState(false);
  const [language, setLanguage] = useState("auto");
  const [transcript, setTranscript] = useState("");
  const [consented, setConsented] = useState(false);
  const [errors, setErrors] = useState<{ audio?: string; name?: string; consent?: string; form?: string }>({});
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const abort = useRef<AbortController | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const errorRef = useRef<HTMLParagraphElement>(null);
  const nameId = useId();
  const transcriptId = useId();
  const consentId = useId();
  const atLimit = voiceLimit !== null && voiceCount >= voiceLimit;

  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => {
    if (errors.form) errorRef.current?.focus();
  }, [errors.form]);

  async function pickFile(f: File | null | undefined) {
    setErrors((e) => ({ ...e, audio: undefined, form: undefined }));
    setFileDuration(null);
    if (!f) return setFile(null);
    if (!AUDIO_EXT.test(f.name) && !f.type.startsWith("audio/") && f.type !== "video/webm") {
      setFile(null);
      return setErrors((e) => ({ ...e, audio: "That does not look like an audio file. Use WAV, MP3, M4A, OGG, WEBM or FLAC." }));
    }
    if (f.size > limits.maxBytes) {
      setFile(null);
      return setErrors((e) => ({ ...e, audio: `That file is ${formatBytes(f.size)}; the limit is ${formatBytes(limits.maxBytes)}.` }));
    }
    setFile(f);
    if (!nameTyped) setName(f.name.replace(/\.[^.]+$/, "").slice(0, limits.nameMax));
    const ms = await probeDuration(f);
    setFileDuration(ms);
    if (ms !== null && ms < limits.minMs)
      setErrors((e) => ({ ...e, audio: `This clip is ${formatClock(ms)} long; a voice needs at least 10 seconds.` }));
    else if (ms !== null && ms > limits.maxMs)
      setErrors((e) => ({ ...e, audio: `This clip is ${formatClock(ms)} long; use at most 5 minutes.` }));
  }

  function onDrop(e: DragEvent<HTMLDivElement>) {
    e.preventDefault();
    setDragging(false);
    void pickFile(e.dataTransfer.files[0]);
  }

  async function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const audio = source === "upload" ? file : (recording?.file ?? null);
    const next: typeof errors = {};
    if (!audio) next.audio = source === "upload" ? "Choose or drop an audio file." : "Record at least 10 seconds first.";
    else if (source === "upload" && errors.audio) next.audio = errors.audio;
    if (!name.trim()) next.name = "Give the voice a name.";
    if (!consented) next.consent = "Confirm that you have the right to use this voice.";
    setErrors(next);
    if (next.audio || next.name || next.consent || !audio) {
      requestAnimationFrame(() =>
        document.querySelector<HTMLElement>("[aria-invalid='true'], .drop-zone.invalid button, .recorder button")?.focus(),
      );
      return;
    }
    const form = new FormData();
    form.set("name", name.trim());
    form.set("language", language);
    if (transcript.trim()) form.set("transcript", transcript.trim());
    form.set("source", source);
    form.set("consent", consent.version);
    form.set("audio", audio, audio.name);
    abort.current = new AbortController();
    setPhase({ kind: "uploading", loaded: 0, total: audio.size });
    try {
      const res = await uploadForm<{ voice: VoiceView }>("/api/voices", form, {
        signal: abort.current.signal,
        onProgress: ({ loaded, total }) => setPhase(loaded >= total ? { kind: "processing" } : { kind: "uploading", loaded, total }),
      });
      navigate(`/generate?voice=${encodeURIComponent(res.voice.id)}&created=${encodeURIComponent(res.voice.id)}`);
    } catch (err) {
      setPhase({ kind: "idle" });
      if ((err as Error)?.name === "AbortError") return;
      setErrors({ form: describeError(err) });
    }
  }

  const busy = phase.kind !== "idle";
  const pct = phase.kind === "uploading" ? phase.loaded / Math.max(1, phase.total) : phase.kind === "processing" ? 1 : 0;

  return (
    <section className="page clone-page">
      <h1>Clone a voice</h1>
      <p className="lead">Upload or record 10 seconds to 5 minutes of one person speaking. Cloning is free.</p>
      {atLimit ? (
        <p className="warning">
          Your {planName} plan holds {voiceLimit} voices and you have {voiceCount}. <Link to="/voices">Delete one</Link> or{" "}
          <Link to="/pricing">upgrade</Link> to add another.
        </p>
      ) : null}
      <form className="card form-card" onSubmit={submit} noValidate aria-busy={busy}>
        <fieldset className="segmented">
          <legend>Reference audio</legend>
          <label className={source === "upload" ? "active" : ""}>
            <input
              type="radio"
              name="source"
              value="upload"
              checked={source === "upload"}
              onChange={() => setSource("upload")}
              disabled={busy}
            />
            Upload a file
          </label>
          <label className={source === "record" ? "active" : ""}>
            <input
              type="radio"
              name="source"
              value="record"
              checked={source === "record"}
              onChange={() => setSource("record")}
              disabled={busy}
            />
            Record now
          </label>
        </fieldset>

        {source === "upload" ? (
          <div
            className={`drop-zone${dragging ? " dragging" : ""}${errors.audio ? " invalid" : ""}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
            data-testid="drop-zone"
          >
            <input
              ref={fileInput}
              id="audio-file"
              type="file"
              accept={ACCEPT}
              className="visually-hidden"
              // The "Choose a file" button opens it: one tab stop, with a visible label.
              tabIndex={-1}
              aria-label="Audio file"
              onChange={(e) => void pickFile(e.target.files?.[0])}
              aria-describedby="audio-help audio-error"
              aria-invalid={errors.audio ? true : undefined}
              disabled={busy}
            />
            {file ? (
              <p className="file-picked">
                <strong>{file.name}</strong> · {formatBytes(file.size)}
                {fileDuration !== null ? ` · ${formatClock(fileDuration)}` : ""}
              </p>
            ) : (
              <p className="drop-title">Drop an audio file here</p>
            )}
            <button type="button" className="button" onClick={() => fileInput.current?.click()} disabled={busy}>
              {file ? "Choose another file" : "Choose a file"}
            </button>
            <p id="audio-help" className="hint">
              WAV, MP3, M4A, OGG, WEBM or FLAC · 10 s to 5 min · up to {formatBytes(limits.maxBytes)}
            </p>
          </div>
        ) : (
          <Recorder minMs={limits.minMs} maxMs={limits.maxMs} onChange={setRecording} />
        )}
        {errors.audio ? (
          <p id="audio-error" className="field-error" role="alert">
            {errors.audio}
          </p>
        ) : null}

        <div className="grid-2">
          <div className="field">
            <label htmlFor={nameId}>Name</label>
            <input
              id={nameId}
              name="name"
              value={name}
              maxLength={limits.nameMax}
              onChange={(e) => {
                setName(e.target.value);
                setNameTyped(e.target.value !== "");
              }}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={errors.name ? `${nameId}-error` : undefined}
              autoComplete="off"
              required
              disabled={busy}
            />
            {errors.name ? (
              <p id={`${nameId}-error`} className="field-error" role="alert">
                {errors.name}
              </p>
            ) : null}
          </div>
          <LanguageSelect languages={languages} value={language} onChange={setLanguage} hint="The language spoken in the clip." />
        </div>
        <div className="field">
          <label htmlFor={transcriptId}>
            Transcript <span className="muted">(optional)</span>
          </label>
          <textarea
            id={transcriptId}
            name="transcript"
            rows={3}
            maxLength={limits.transcriptMax}
            value={transcript}
            onChange={(e) => setTranscript(e.target.value)}
            aria-describedby={`${transcriptId}-hint`}
            disabled={busy}
          />
          <p id={`${transcriptId}-hint`} className="hint">
            What is said in the clip, word for word. It helps the clone sound closer. Up to {formatNumber(limits.transcriptMax)} characters.
          </p>
        </div>

        <div className="field consent-field">
          <label htmlFor={consentId} className="checkbox">
            <input
              id={consentId}
              type="checkbox"
              name="consent"
              value={consent.version}
              checked={consented}
              onChange={(e) => {
                setConsented(e.target.checked);
                setErrors((er) => ({ ...er, consent: undefined }));
              }}
              aria-invalid={errors.consent ? true : undefined}
              aria-describedby={errors.consent ? `${consentId}-error` : undefined}
              data-testid="clone-consent"
            />
            <span>{consent.statement}</span>
          </label>
          {errors.consent ? (
            <p id={`${consentId}-error`} className="field-error" role="alert">
              {errors.consent}
            </p>
          ) : null}
          <p className="hint">We keep a record of this confirmation (when, from where, and a fingerprint of the recording), even if you delete the voice.</p>
        </div>

        {busy ? (
          <div className="upload-progress" data-testid="upload-progress" data-phase={phase.kind}>
            <ProgressBar value={pct} label="Upload progress" />
            <p className="small" aria-live="polite">
              {phase.kind === "uploading"
                ? `Uploading… ${Math.round(pct * 100)}% (${formatBytes(phase.loaded)} of ${formatBytes(phase.total)})`
                : "Checking the audio…"}
            </p>
          </div>
        ) : null}
        {errors.form ? (
          <p className="form-error" role="alert" tabIndex={-1} ref={errorRef} data-testid="clone-error">
            {errors.form}
          </p>
        ) : null}
        <div className="actions">
          <button type="submit" className="button primary" disabled={busy || atLimit} data-testid="clone-submit">
            {busy ? "Creating the voice…" : "Create voice"}
          </button>
          {phase.kind === "uploading" ? (
            <button type="button" className="button" onClick={() => abort.current?.abort()}>
              Cancel upload
            </button>
          ) : null}
        </div>
      </form>
    </section>
  );
}
