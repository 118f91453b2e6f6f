import type { MetaFunction } from "@remix-run/cloudflare";
import { Link, useRouteLoaderData } from "@remix-run/react";
import type { loader as rootLoader } from "../root";

export const meta: MetaFunction = () => [
  { title: "Utter — your voice, speaking any text" },
  {
    name: "description",
    content:
      "Clone a voice from 10 seconds of audio, or design one in words, and hear it read up to 5,000 characters live in your browser.",
  },
];

export default function Landing() {
  const root = useRouteLoaderData<typeof rootLoader>("root");
  const signedIn = Boolean(root?.user);
  return (
    <div className="landing">
      <section className="hero">
        <h1>Your voice, reading anything.</h1>
        <p className="lead">
          Record or upload 10 seconds to 5 minutes of speech, or describe a voice in words. Type up to 5,000 characters and hear that voice
          speak them — the first sentences play while the rest is still being made.
        </p>
        <div className="actions">
          {signedIn ? (
            <Link className="button primary" to="/clone">
              Clone a voice
            </Link>
          ) : (
            <Link className="button primary" to="/sign-up">
              Try it free — 100 credits a month
            </Link>
          )}
          <Link className="button" to={signedIn ? "/generate" : "/sign-in"}>
            {signedIn ? "Generate speech" : "Sign in"}
          </Link>
          <Link className="button" to={signedIn ? "/design" : "/pricing"}>
            {signedIn ? "Design a voice" : "See plans"}
          </Link>
        </div>
      </section>
      <section className="steps" aria-label="How it works">
        <article>
          <h2>1. Make a voice</h2>
          <p>Upload WAV, MP3, M4A, OGG, WEBM or FLAC, record in the browser, or describe the voice you want.</p>
        </article>
        <article>
          <h2>2. Type your text</h2>
          <p>Eleven languages, up to 5,000 characters at a time. One credit reads 100 characters.</p>
        </article>
        <article>
          <h2>3. Listen as it renders</h2>
          <p>Segments stream to your browser as soon as each is ready; download the whole file when it is done.</p>
        </article>
      </section>
    </div>
  );
}
