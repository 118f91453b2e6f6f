import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Link, useLoaderData } from "@remix-run/react";
import { LANGUAGES } from "../../worker/services/languages";
import { getOwnedVoice, voiceDetail } from "../../worker/services/voices";
import { RouteErrorBoundary } from "../components/route-error";
import { WaveformPlayer } from "../components/waveform-player";
import { orErrorResponse } from "../lib/errors.server";
import { formatBytes, formatDate, formatDurationWords, plural } from "../lib/format";
import { requirePageUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: data ? `${data.voice.name} — Utter` : "Voice not found — Utter" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  // Someone else's voice id answers exactly like one that does not exist (DESIGN §7).
  const row = await orErrorResponse(getOwnedVoice(context.app, user.id, params.id ?? ""));
  return { voice: await voiceDetail(context.app, user.id, row), language: LANGUAGES.find((l) => l.code === row.language)?.name ?? row.language };
}

export { RouteErrorBoundary as ErrorBoundary };

export default function VoiceDetail() {
  const { voice, language } = useLoaderData<typeof loader>();
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
