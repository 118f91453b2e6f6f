import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { data } from "@remix-run/cloudflare";
import { useLoaderData } from "@remix-run/react";
import { devOutboxEnabled, listDevOutbox } from "../../worker/auth/mailer";

export const meta: MetaFunction = () => [{ title: "Outbox (development) — Utter" }];

/**
 * Development only: the mail the local mailer "sent" (worker/auth/mailer.ts),
 * so a developer can open a reset link without a mail provider and without
 * links in the log. Everywhere else (any other mode, any public host) this page does not exist.
 */
export async function loader({ context }: LoaderFunctionArgs) {
  const ctx = context.app;
  if (!devOutboxEnabled(ctx.config)) throw data("Not found", { status: 404 });
  const mails = await listDevOutbox(ctx.db);
  return { mails: mails.map((m) => ({ id: m.id, to: m.to, subject: m.subject, text: m.text, at: m.createdAt.toISOString() })) };
}

const URL_RE = /(https?:\/\/[^\s]+)/g;

function Linked({ text }: { text: string }) {
  return (
    <>
      {text.split(URL_RE).map((part, i) =>
        i % 2 === 1 ? (
          <a key={i} href={part}>
            {part}
          </a>
        ) : (
          part
        ),
      )}
    </>
  );
}

export default function DevOutbox() {
  const { mails } = useLoaderData<typeof loader>();
  return (
    <section className="page">
      <h1>Outbox</h1>
      <p className="muted">Development only: mail is kept here instead of being sent. Set RESEND_API_KEY to send it for real.</p>
      {mails.length === 0 ? (
        <p className="muted">Nothing sent yet.</p>
      ) : (
        <ul className="plain-list">
          {mails.map((m) => (
            <li key={m.id} className="card" data-testid="outbox-mail">
              <p>
                <strong>{m.subject}</strong> <span className="muted small">to {m.to} · {new Date(m.at).toUTCString()}</span>
              </p>
              <p className="pre-wrap">
                <Linked text={m.text} />
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
