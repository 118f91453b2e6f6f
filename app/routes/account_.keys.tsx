import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation, useSubmit } from "@remix-run/react";
import { useRef, useState } from "react";
import { createApiKey, CreateKeyBody, deleteApiKey, listApiKeys } from "../../worker/services/api-keys";
import { AppError } from "../../worker/lib/errors";
import { API_KEY_SCOPES, SCOPE_LABELS } from "../../worker/auth/scopes";
import { ConfirmDialog } from "../components/confirm-dialog";
import { Field, FormError } from "../components/field";
import { requireActionUser, requirePageUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "API keys — Utter" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requirePageUser(context, request);
  return { keys: await listApiKeys(context.app.db, user.id) };
}

type Result = {
  created?: { name: string; key: string; scopes: string[] };
  error?: string;
  nameError?: string;
  scopeError?: string;
  notice?: string;
  /** Without JavaScript, Revoke first answers with this question, asked on the page itself. */
  confirmRevoke?: { id: string; name: string };
};

export async function action({ request, context }: ActionFunctionArgs): Promise<Result> {
  const user = await requireActionUser(context, request);
  const form = await request.formData();
  try {
    if (form.get("intent") === "confirm-revoke") {
      const id = String(form.get("id") ?? "");
      const key = (await listApiKeys(context.app.db, user.id)).find((k) => k.id === id);
      return key ? { confirmRevoke: { id: key.id, name: key.name } } : { error: "That key no longer exists." };
    }
    if (form.get("intent") === "delete") {
      await deleteApiKey(context.app.db, user.id, String(form.get("id") ?? ""));
      return { notice: "The key was revoked. Programs using it can no longer sign in." };
    }
    const scopes = form.getAll("scope").map(String);
    if (scopes.length === 0) return { scopeError: "Choose at least one thing the key may do." };
    const parsed = CreateKeyBody.safeParse({ name: form.get("name") ?? "", scopes });
    if (!parsed.success) {
      return parsed.error.issues.some((i) => i.path[0] === "scopes")
        ? { scopeError: "Choose from the listed permissions." }
        : { nameError: "Give the key a name, up to 100 characters." };
    }
    const created = await createApiKey(context.app.db, user.id, parsed.data.name, parsed.data.scopes);
    return { created: { name: created.name, key: created.key, scopes: created.scopes } };
  } catch (err) {
    if (err instanceof AppError) return { error: err.message };
    throw err;
  }
}

export default function ApiKeys() {
  const { keys } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  return (
    <div className="page">
      <p>
        <Link to="/account">← Account</Link>
      </p>
      <h1>API keys</h1>
      <p className="muted">
        Use a key as <code>Authorization: Bearer utr_…</code> with the same JSON API the site uses: the{" "}
        <Link to="/docs/api">API reference</Link> lists every operation with a curl example (the document itself is{" "}
        <a href="/api/openapi.json">/api/openapi.json</a>). Keys act as you within the permissions you give them: keep them secret. Billing,
        API keys and account changes always need you signed in here; no key can reach them.
      </p>
      {result?.created ? <NewKey name={result.created.name} secret={result.created.key} /> : null}
      {result?.notice ? (
        <p className="notice" role="status">
          {result.notice}
        </p>
      ) : null}
      <FormError message={result?.error} />
      {result?.confirmRevoke ? <RevokeQuestion id={result.confirmRevoke.id} name={result.confirmRevoke.name} /> : null}
      <section className="card account-section" aria-labelledby="new-key-heading">
        <h2 id="new-key-heading">New key</h2>
        <Form method="post" className="inline-form">
          <input type="hidden" name="intent" value="create" />
          <Field
            label="Name"
            name="name"
            required
            maxLength={100}
            hint="Where you will use it, e.g. “podcast script”."
            error={result?.nameError}
          />
          <fieldset className="scopes">
            <legend>It may</legend>
            {API_KEY_SCOPES.map((s) => (
              <label key={s} className="checkbox">
                <input type="checkbox" name="scope" value={s} defaultChecked={s !== "voices:write"} /> {SCOPE_LABELS[s]}{" "}
                <code className="small">{s}</code>
              </label>
            ))}
            {result?.scopeError ? (
              <p className="field-error" role="alert">
                {result.scopeError}
              </p>
            ) : null}
          </fieldset>
          <button type="submit" className="button primary" disabled={busy}>
            Create key
          </button>
        </Form>
      </section>
      <section className="card account-section" aria-labelledby="keys-heading">
        <h2 id="keys-heading">Your keys</h2>
        {keys.length === 0 ? (
          <p className="muted">No keys yet.</p>
        ) : (
          <ul className="plain-list">
            {keys.map((k) => (
              <li key={k.id}>
                <strong>{k.name}</strong> <code>{k.prefix}…</code>{" "}
                <span className="key-scopes" data-testid="key-scopes">
                  {k.scopes.map((s) => (
                    <code key={s} className="scope" title={SCOPE_LABELS[s]}>
                      {s}
                    </code>
                  ))}
                </span>{" "}
                <span className="muted small">
                  made {new Date(k.created_at).toLocaleDateString()}
                  {k.last_used_at ? `, last used ${new Date(k.last_used_at).toLocaleDateString()}` : ", never used"}
                </span>
                <RevokeKey id={k.id} name={k.name} />
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

type CopyState = "idle" | "copied" | "selected";

/** The new key, shown once, with a copy button; where the clipboard is out of reach the key is selected for Ctrl+C. */
function NewKey({ name, secret }: { name: string; secret: string }) {
  const code = useRef<HTMLElement>(null);
  const [copy, setCopy] = useState<CopyState>("idle");
  const selectKey = () => {
    const el = code.current;
    const selection = window.getSelection();
    if (!el || !selection) return;
    selection.selectAllChildren(el);
    setCopy("selected");
  };
  const copyKey = async () => {
    // No clipboard outside a secure context, or when the browser refuses the permission.
    if (!navigator.clipboard?.writeText) return selectKey();
    try {
      await navigator.clipboard.writeText(secret);
      setCopy("copied");
    } catch {
      selectKey();
    }
  };
  return (
    <div className="notice new-key" role="status">
      <p>Your new key “{name}”. Copy it now: it will not be shown again.</p>
      <code ref={code} className="secret" data-testid="new-api-key">
        {secret}
      </code>
      <p className="copy-row">
        <button type="button" className="button small" onClick={copyKey} data-testid="copy-api-key">
          Copy key
        </button>{" "}
        <span aria-live="polite" className="small" data-testid="copy-status" data-state={copy}>
          {copy === "copied"
            ? "Copied to the clipboard."
            : copy === "selected"
              ? "The clipboard is not available here: the key is selected, press Ctrl+C (⌘C) to copy it."
              : ""}
        </span>
      </p>
    </div>
  );
}

/**
 * A key's revoke button. Revoking cannot be undone, so it asks first: with
 * JavaScript in a dialog, without it the post brings back the same question
 * on the page (RevokeQuestion).
 */
function RevokeKey({ id, name }: { id: string; name: string }) {
  const button = useRef<HTMLButtonElement>(null);
  const [confirming, setConfirming] = useState(false);
  const submit = useSubmit();
  return (
    <>
      <Form method="post" className="inline">
        <input type="hidden" name="id" value={id} />
        <button
          ref={button}
          type="submit"
          name="intent"
          value="confirm-revoke"
          className="link-button"
          aria-label={`Revoke ${name}`}
          aria-haspopup="dialog"
          onClick={(e) => {
            e.preventDefault();
            setConfirming(true);
          }}
        >
          Revoke
        </button>
      </Form>
      <ConfirmDialog
        open={confirming}
        title={`Revoke “${name}”?`}
        confirmLabel="Revoke key"
        onCancel={() => {
          setConfirming(false);
          button.current?.focus();
        }}
        onConfirm={() => {
          setConfirming(false);
          submit({ intent: "delete", id }, { method: "post" });
        }}
      >
        Programs using this key can no longer sign in with it. This cannot be undone.
      </ConfirmDialog>
    </>
  );
}

/** The revoke question for a browser without JavaScript: the same words as the dialog. */
function RevokeQuestion({ id, name }: { id: string; name: string }) {
  return (
    <section className="card account-section revoke-question" aria-labelledby="revoke-question-heading" data-testid="revoke-question">
      <h2 id="revoke-question-heading">Revoke “{name}”?</h2>
      <p>Programs using this key can no longer sign in with it. This cannot be undone.</p>
      <Form method="post" className="actions">
        <input type="hidden" name="intent" value="delete" />
        <input type="hidden" name="id" value={id} />
        <Link to="/account/keys" className="button">
          Keep it
        </Link>
        <button type="submit" className="button danger-solid">
          Revoke key
        </button>
      </Form>
    </section>
  );
}
