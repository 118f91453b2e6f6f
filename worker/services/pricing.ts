/**
 * The one place that holds prices, plans and limits (DESIGN §6). The UI, the
 * API and the credit ledger read these numbers from here.
 */
export const PLAN_IDS = ["free", "pro", "studio"] as const;
export type PlanId = (typeof PLAN_IDS)[number];

export interface Plan {
  id: PlanId;
  name: string;
  monthlyCredits: number;
  /** null = unlimited */
  voiceLimit: number | null;
  concurrentJobs: number;
  /** The longest text one generation may have, in characters (DESIGN §1: paid plans take long-form). */
  textChars: number;
  priceUsdMonthly: number;
}

export const PLANS: Record<PlanId, Plan> = {
  free: { id: "free", name: "Free", monthlyCredits: 100, voiceLimit: 3, concurrentJobs: 1, textChars: 5_000, priceUsdMonthly: 0 },
  pro: { id: "pro", name: "Pro", monthlyCredits: 1_000, voiceLimit: 30, concurrentJobs: 3, textChars: 50_000, priceUsdMonthly: 10 },
  studio: { id: "studio", name: "Studio", monthlyCredits: 10_000, voiceLimit: null, concurrentJobs: 10, textChars: 50_000, priceUsdMonthly: 60 },
};

export const PACK_IDS = ["small", "large"] as const;
export type PackId = (typeof PACK_IDS)[number];
export interface CreditPack {
  id: PackId;
  name: string;
  credits: number;
  priceUsd: number;
}
export const PACKS: Record<PackId, CreditPack> = {
  small: { id: "small", name: "500 credits", credits: 500, priceUsd: 5 },
  large: { id: "large", name: "3,000 credits", credits: 3_000, priceUsd: 25 },
};

/** Speech units per credit: 100 Latin (or Cyrillic, Greek, …) characters. */
export const CHARACTERS_PER_CREDIT = 100;
/** A CJK ideograph, kana, hangul syllable or full-width form is a whole syllable: it counts as this many units. */
export const WIDE_CHARACTER_UNITS = 3;
export const DESIGN_PREVIEW_COST = 5;
export const CLONE_COST = 0;

/**
 * The engine's own measure of how long a text takes to speak, and so of its
 * GPU time (modal/utter_engine/segmentation.py `speech_units`, which budgets
 * tokens with it): one unit per character, WIDE_CHARACTER_UNITS for the
 * dense scripts. Pinned to the Python copy by test/fixtures/engine-protocol/speech-units.json.
 */
export function isWideCharacter(codePoint: number): boolean {
  return (
    (codePoint >= 0x1100 && codePoint <= 0x11ff) ||
    (codePoint >= 0x2e80 && codePoint <= 0x9fff) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7af) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xff00 && codePoint <= 0xffef) ||
    (codePoint >= 0x20000 && codePoint <= 0x3ffff)
  );
}

export function speechUnits(text: string): number {
  let units = 0;
  for (const ch of text) units += isWideCharacter(ch.codePointAt(0) ?? 0) ? WIDE_CHARACTER_UNITS : 1;
  return units;
}

/**
 * 1 credit = 100 speech units, rounded up: 100 characters of English, about
 * 33 of Chinese, Japanese or Korean, whose characters each take the GPU about
 * as long as three Latin letters (DESIGN §6, ADR 0016).
 */
export function generationCost(text: string): number {
  return Math.max(1, Math.ceil(speechUnits(text) / CHARACTERS_PER_CREDIT));
}

export function planOf(id: string | null | undefined): Plan {
  return PLANS[(PLAN_IDS as readonly string[]).includes(id ?? "") ? (id as PlanId) : "free"];
}

// ---------------------------------------------------------------------------
// What Stripe sells. The Stripe price ids live in env (one Stripe account per
// environment), so the catalog is built from the config; everything else —
// credits, limits, list prices — stays in the tables above.
// ---------------------------------------------------------------------------

/** The plans a customer can subscribe to (Free is what they fall back to). */
export const PAID_PLAN_IDS = ["pro", "studio"] as const;
export type PaidPlanId = (typeof PAID_PLAN_IDS)[number];

/** The env variables that name a Stripe price for each product. */
export interface StripePriceConfig {
  STRIPE_PRICE_PRO?: string;
  STRIPE_PRICE_STUDIO?: string;
  STRIPE_PRICE_PACK_SMALL?: string;
  STRIPE_PRICE_PACK_LARGE?: string;
}

const PLAN_PRICE_ENV: Record<PaidPlanId, keyof StripePriceConfig> = { pro: "STRIPE_PRICE_PRO", studio: "STRIPE_PRICE_STUDIO" };
const PACK_PRICE_ENV: Record<PackId, keyof StripePriceConfig> = { small: "STRIPE_PRICE_PACK_SMALL", large: "STRIPE_PRICE_PACK_LARGE" };

export interface Catalog {
  plans: (Plan & { stripePriceId: string | null })[];
  packs: (CreditPack & { stripePriceId: string | null })[];
}

/** Plans and packs with their Stripe price ids (null when that product is not configured). */
export function catalog(config: StripePriceConfig): Catalog {
  return {
    plans: PLAN_IDS.map((id) => ({ ...PLANS[id], stripePriceId: id === "free" ? null : (config[PLAN_PRICE_ENV[id]] ?? null) })),
    packs: PACK_IDS.map((id) => ({ ...PACKS[id], stripePriceId: config[PACK_PRICE_ENV[id]] ?? null })),
  };
}

export function stripePriceFor(config: StripePriceConfig, item: { plan: PaidPlanId } | { pack: PackId }): string | null {
  const key = "plan" in item ? PLAN_PRICE_ENV[item.plan] : PACK_PRICE_ENV[item.pack];
  return config[key] ?? null;
}

/** The paid plan a Stripe price stands for, or null for a price we do not sell as a plan. */
export function planForStripePrice(config: StripePriceConfig, priceId: string | null | undefined): Plan | null {
  if (!priceId) return null;
  const id = PAID_PLAN_IDS.find((p) => config[PLAN_PRICE_ENV[p]] === priceId);
  return id ? PLANS[id] : null;
}

export function packForStripePrice(config: StripePriceConfig, priceId: string | null | undefined): CreditPack | null {
  if (!priceId) return null;
  const id = PACK_IDS.find((p) => config[PACK_PRICE_ENV[p]] === priceId);
  return id ? PACKS[id] : null;
}

/** Orders plans for "the best plan a user pays for" when they hold more than one subscription. */
export function planRank(id: string | null | undefined): number {
  const i = (PLAN_IDS as readonly string[]).indexOf(id ?? "");
  return i < 0 ? 0 : i;
}

/**
 * Credits to take back for `amount` of a payment that bought `credits` for
 * `paid` (refunds and disputes, in the payment's minor currency units).
 */
export function creditsForAmount(credits: number, amount: number, paid: number): number {
  if (paid <= 0 || amount <= 0 || credits <= 0) return 0;
  return Math.min(credits, Math.round((credits * amount) / paid));
}

export function formatUsd(amount: number): string {
  return `$${amount.toLocaleString("en-US")}`;
}
