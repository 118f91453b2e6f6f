import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import * as z from "zod";
import { findSessionUser } from "../../worker/auth/session";
import { AppError } from "../../worker/lib/errors";
import { getMe, updateProfile } from "../../worker/services/account";
import { billingCatalog, billingOverview, CheckoutChoice, openBillingPortal, startCheckout } from "../../worker/services/billing";
import { listLedger } from "../../worker/services/credits";
import { Field, FormError } from "../components/field";

export const meta: MetaFunction = () => [{ title: "Your account — Utter" }];

const LEDGER_PAGE = 20;
const Cursor = z.string().regex(/^\d{1,15}$/).transform(Number);
const ProfileForm = z.object({ name: z.string().trim().min(1, "Tell us your name.").max(100, "Use at most 100 characters.") });

export async function loader({ request, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const user = await findSessionUser(ctx, request.headers);
  if (!user) throw redirect("/sign-in?redirectTo=/account");
  const params = new URL(request.url).searchParams;
  const cursor = Cursor.safeParse(params.get("cursor") ?? "");
  const me = await getMe(ctx.db, user);
  return {
    me,
    billing: await billingOverview(ctx, user.id),
    catalog: billingCatalog(ctx),
    ledger: await listLedger(ctx.db, user.id, { cursor: cursor.success ? cursor.data : undefined, limit: LEDGER_PAGE }),
    paged: cursor.success,
    checkoutDone: params.get("checkout") === "success",
    requestKey: crypto.randomUUID(),
  };
}

type ActionResult = { form: "profile" | "billing"; error?: string; fieldError?: string; notice?: string };

export async function action({ request, context }: ActionFunctionArgs): Promise<ActionResult> {
  const ctx = context.app;
  const user = await findSessionUser(ctx, request.headers);
  if (!user) throw redirect("/sign-in?redirectTo=/account");
  const form = await request.formData();
  const intent = form.get("intent");
  const key = form.get("requestKey");
  const requestKey = typeof key === "string" && /^[A-Za-z0-9-]{8,64}$/.test(key) ? key : undefined;

  if (intent === "profile") {
    const parsed = ProfileForm.safeParse({ name: form.get("name") });
    if (!parsed.success) return { form: "profile", fieldError: parsed.error.issues[0]?.message };
    await updateProfile(ctx.db, user.id, parsed.data);
    return { form: "profile", notice: "Saved." };
  }

  let url: string;
  try {
    if (intent === "portal") {
      ({ url } = await openBillingPortal(ctx, user, { requestKey }));
    } else if (intent === "buy") {
      const choice = CheckoutChoice.safeParse({ pack: form.get("pack") });
      if (!choice.success) return { form: "billing", error: "Choose a credit pack to buy." };
      ({ url } = await startCheckout(ctx, user, choice.data, { requestKey }));
    } else {
      return { form: "billing", error: "Unknown action." };
    }
  } catch (err) {
    if (err instanceof AppError) return { form: "billing", error: err.message };
    throw err;
  }
  throw redirect(url);
}

const KIND_LABEL: Record<string, string> = {
  grant: "Plan credits",
  purchase: "Credit pack",
  reserve: "Reserved for a job",
  capture: "Job finished",
  release: "Job refunded",
  refund: "Payment refunded",
  dispute: "Payment disputed",
  adjustment: "Adjustment",
};

function formatDate(iso: string) {
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

export default function Account() {
  const { me, billing, catalog, ledger, paged, checkoutDone, requestKey } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const busy = useNavigation().state !== "idle";
  const sub = billing.subscription;
  return (
    <div className="account">
      <h1>Your account</h1>
      {checkoutDone ? (
        <p className="notice" role="status">
          Thank you! Your payment went through; credits and plan changes appear here within a few seconds.
        </p>
      ) : null}

      <section className="card account-section" aria-labelledby="profile-heading">
        <h2 id="profile-heading">Profile</h2>
        <p>
          <span className="muted">Email:</span> {me.user.email}
        </p>
        <Form method="post" className="inline-form">
          <input type="hidden" name="intent" value="profile" />
          <Field
            label="Name"
            name="name"
            autoComplete="name"
            required
            maxLength={100}
            defaultValue={me.user.name}
            error={result?.form === "profile" ? result.fieldError : undefined}
          />
          <button type="submit" className="button" disabled={busy}>
            Save name
          </button>
          {result?.form === "profile" && result.notice ? (
            <p className="notice" role="status">
              {result.notice}
            </p>
          ) : null}
        </Form>
        <p>
          <Link to="/account/keys">API keys</Link> <span className="muted">— use Utter from your own programs.</span>
        </p>
      </section>

      <section className="card account-section" id="billing" aria-labelledby="plan-heading">
        <h2 id="plan-heading">Plan and credits</h2>
        <dl className="facts">
          <div>
            <dt>Plan</dt>
            <dd data-testid="account-plan">{me.plan.name}</dd>
          </div>
          <div>
            <dt>Credit balance</dt>
            <dd data-testid="account-balance" className={me.credits.balance <= 0 ? "credit-neg" : undefined}>
              {me.credits.balance.toLocaleString("en-US")}
            </dd>
          </div>
          <div>
            <dt>Monthly credits</dt>
            <dd>{me.plan.monthly_credits.toLocaleString("en-US")}</dd>
          </div>
          <div>
            <dt>Voices</dt>
            <dd>{me.plan.voice_limit === null ? "Unlimited" : `Up to ${me.plan.voice_limit}`}</dd>
          </div>
          {sub ? (
            <div>
              <dt>Subscription</dt>
              <dd>
                {`${sub.status.replace(/_/g, " ")}${sub.current_period_end ? ` · ${sub.cancel_at_period_end ? "ends" : "renews"} ${formatDate(sub.current_period_end)}` : ""}`}
              </dd>
            </div>
          ) : null}
        </dl>
        {me.credits.balance <= 0 ? (
          <p className="form-error" role="status">
            You are out of credits, so new jobs are paused. Buy a pack or upgrade your plan to continue.
          </p>
        ) : null}
        {result?.form === "billing" ? <FormError message={result.error} /> : null}
        {!catalog.available ? (
          <p className="notice billing-unavailable" role="status">
            {catalog.unavailable_reason}
          </p>
        ) : (
          <div className="actions">
            {catalog.packs
              .filter((p) => p.purchasable)
              .map((pack) => (
                <Form method="post" reloadDocument key={pack.id}>
                  <input type="hidden" name="intent" value="buy" />
                  <input type="hidden" name="pack" value={pack.id} />
                  <input type="hidden" name="requestKey" value={requestKey} />
                  <button type="submit" className="button" disabled={busy}>
                    {`Buy ${pack.credits.toLocaleString("en-US")} credits ($${pack.price_usd})`}
                  </button>
                </Form>
              ))}
            {billing.has_billing_account ? (
              <Form method="post" reloadDocument>
                <input type="hidden" name="intent" value="portal" />
                <input type="hidden" name="requestKey" value={requestKey} />
                <button type="submit" className="button" disabled={busy}>
                  Manage billing
                </button>
              </Form>
            ) : null}
            <Link className="button primary" to="/pricing">
              {me.plan.id === "free" ? "Upgrade your plan" : "See plans"}
            </Link>
          </div>
        )}
      </section>

      <section className="card account-section" aria-labelledby="ledger-heading">
        <h2 id="ledger-heading">Credit history</h2>
        {ledger.entries.length === 0 ? (
          <p className="muted">No credit activity yet.</p>
        ) : (
          <table className="ledger">
            <caption className="visually-hidden">Credit history, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">What</th>
                <th scope="col" className="num">
                  Credits
                </th>
              </tr>
            </thead>
            <tbody>
              {ledger.entries.map((e) => (
                <tr key={e.id} data-kind={e.kind}>
                  <td>{formatDate(e.created_at)}</td>
                  <td>
                    {KIND_LABEL[e.kind] ?? e.kind}
                    {e.note ? <span className="muted">{` — ${e.note}`}</span> : null}
                  </td>
                  <td className={`num ${e.delta < 0 ? "credit-neg" : e.delta > 0 ? "credit-pos" : ""}`}>{e.delta > 0 ? `+${e.delta}` : e.delta}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <nav className="pager" aria-label="Credit history pages">
          {paged ? <Link to="/account#ledger-heading">Newest entries</Link> : null}
          {ledger.next_cursor ? (
            <Link to={`/account?cursor=${ledger.next_cursor}#ledger-heading`} rel="next">
              Older entries
            </Link>
          ) : null}
        </nav>
      </section>
    </div>
  );
}
