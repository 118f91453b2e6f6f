import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/cloudflare";
import { redirect } from "@remix-run/cloudflare";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { findSessionUser } from "../../worker/auth/session";
import { AppError } from "../../worker/lib/errors";
import { billingCatalog, billingOverview, CheckoutChoice, startCheckout } from "../../worker/services/billing";
import { FormError } from "../components/field";
import { CHARACTERS_PER_CREDIT, DESIGN_PREVIEW_COST, WIDE_CHARACTER_UNITS } from "../../worker/services/pricing";

export const meta: MetaFunction = () => [
  { title: "Pricing — Utter" },
  { name: "description", content: "Free, Pro and Studio plans and one-off credit packs. One credit reads 100 characters (about 33 in Chinese, Japanese or Korean)." },
];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const ctx = context.app;
  const user = await findSessionUser(ctx, request.headers);
  const overview = user ? await billingOverview(ctx, user.id) : null;
  return {
    catalog: billingCatalog(ctx),
    signedIn: Boolean(user),
    currentPlan: overview?.plan ?? null,
    cancelled: new URL(request.url).searchParams.get("checkout") === "cancelled",
    // One key per page view: submitting the same button twice opens the same Checkout session.
    requestKey: crypto.randomUUID(),
  };
}

export async function action({ request, context }: ActionFunctionArgs): Promise<{ error: string }> {
  const ctx = context.app;
  const user = await findSessionUser(ctx, request.headers);
  if (!user) throw redirect("/sign-in?redirectTo=/pricing");
  const form = await request.formData();
  const raw = form.get("plan") ? { plan: form.get("plan") } : { pack: form.get("pack") };
  const choice = CheckoutChoice.safeParse(raw);
  if (!choice.success) return { error: "Choose a plan or a credit pack to buy." };
  const key = form.get("requestKey");
  let url: string;
  try {
    ({ url } = await startCheckout(ctx, user, choice.data, { requestKey: typeof key === "string" && /^[A-Za-z0-9-]{8,64}$/.test(key) ? key : undefined }));
  } catch (err) {
    // AppError messages are written for people (409 already subscribed, 503 billing off, 502 Stripe down).
    if (err instanceof AppError) return { error: err.message };
    throw err;
  }
  throw redirect(url);
}

function usd(n: number) {
  return `$${n.toLocaleString("en-US")}`;
}

export default function Pricing() {
  const { catalog, signedIn, currentPlan, cancelled, requestKey } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const busy = useNavigation().state !== "idle";
  const onPaidPlan = currentPlan !== null && currentPlan !== "free";
  return (
    <div className="pricing">
      <h1>Pricing</h1>
      <p className="lead">
        One credit reads {CHARACTERS_PER_CREDIT} characters aloud. A voice-design preview costs {DESIGN_PREVIEW_COST} credits; cloning a voice is free. Unused credits roll over.
        Upgrading mid-month tops your credits up to the new plan's monthly amount straight away.
      </p>
      <p className="muted pricing-units">
        Credits follow the time the voice model spends speaking. A Chinese, Japanese or Korean character is a whole syllable and takes about as long as{" "}
        {WIDE_CHARACTER_UNITS} letters, so it counts as {WIDE_CHARACTER_UNITS} characters: one credit reads about {Math.floor(CHARACTERS_PER_CREDIT / WIDE_CHARACTER_UNITS)} of them.
      </p>
      {!catalog.available ? (
        <p className="notice billing-unavailable" role="status">
          {catalog.unavailable_reason}
        </p>
      ) : null}
      {cancelled ? (
        <p className="notice" role="status">
          Checkout was cancelled. Nothing was charged.
        </p>
      ) : null}
      <FormError message={result?.error} />

      <section aria-labelledby="plans-heading">
        <h2 id="plans-heading">Plans</h2>
        <ul className="plan-grid" role="list">
          {catalog.plans.map((plan) => {
            const current = currentPlan === plan.id;
            return (
              <li key={plan.id} className={`plan-card card${current ? " current" : ""}`} aria-current={current ? "true" : undefined} data-plan={plan.id}>
                <h3>
                  {plan.name}
                  {current ? <span className="plan-badge">Your plan</span> : null}
                </h3>
                <p className="price">
                  {plan.price_usd_monthly === 0 ? "Free" : usd(plan.price_usd_monthly)}
                  {plan.price_usd_monthly === 0 ? null : <span className="muted"> / month</span>}
                </p>
                <ul className="plan-features">
                  <li>{`${plan.monthly_credits.toLocaleString("en-US")} credits a month`}</li>
                  <li>{plan.voice_limit === null ? "Unlimited voices" : `${plan.voice_limit} saved voices`}</li>
                  <li>{`${plan.concurrent_jobs} job${plan.concurrent_jobs === 1 ? "" : "s"} at a time`}</li>
                  <li>{`Up to ${plan.text_chars.toLocaleString("en-US")} characters a generation`}</li>
                </ul>
                {plan.id === "free" || current ? null : !signedIn ? (
                  <Link className="button primary" to="/sign-up">
                    Sign up to subscribe
                  </Link>
                ) : onPaidPlan ? (
                  <Link className="button" to="/account#billing">
                    Switch in Manage billing
                  </Link>
                ) : plan.purchasable ? (
                  <Form method="post" reloadDocument>
                    <input type="hidden" name="plan" value={plan.id} />
                    <input type="hidden" name="requestKey" value={requestKey} />
                    <button type="submit" className="button primary" disabled={busy}>
                      {`Subscribe to ${plan.name}`}
                    </button>
                  </Form>
                ) : (
                  <p className="muted">Not on sale right now.</p>
                )}
              </li>
            );
          })}
        </ul>
      </section>

      <section aria-labelledby="packs-heading">
        <h2 id="packs-heading">Credit packs</h2>
        <p className="muted">One-off credits on top of any plan. They never expire.</p>
        <ul className="plan-grid" role="list">
          {catalog.packs.map((pack) => (
            <li key={pack.id} className="plan-card card" data-pack={pack.id}>
              <h3>{pack.name}</h3>
              <p className="price">{usd(pack.price_usd)}</p>
              {!signedIn ? (
                <Link className="button" to="/sign-in?redirectTo=/pricing">
                  Sign in to buy
                </Link>
              ) : pack.purchasable ? (
                <Form method="post" reloadDocument>
                  <input type="hidden" name="pack" value={pack.id} />
                  <input type="hidden" name="requestKey" value={requestKey} />
                  <button type="submit" className="button" disabled={busy}>
                    {`Buy ${pack.credits.toLocaleString("en-US")} credits for ${usd(pack.price_usd)}`}
                  </button>
                </Form>
              ) : (
                <p className="muted">Not on sale right now.</p>
              )}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
