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
  priceUsdMonthly: number;
}

export const PLANS: Record<PlanId, Plan> = {
  free: { id: "free", name: "Free", monthlyCredits: 100, voiceLimit: 3, concurrentJobs: 1, priceUsdMonthly: 0 },
  pro: { id: "pro", name: "Pro", monthlyCredits: 1_000, voiceLimit: 30, concurrentJobs: 3, priceUsdMonthly: 10 },
  studio: { id: "studio", name: "Studio", monthlyCredits: 10_000, voiceLimit: null, concurrentJobs: 10, priceUsdMonthly: 60 },
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

export const CHARACTERS_PER_CREDIT = 100;
export const DESIGN_PREVIEW_COST = 5;
export const CLONE_COST = 0;

/** 1 credit = 100 characters of generated speech, rounded up. */
export function generationCost(text: string): number {
  const chars = [...text].length;
  return Math.max(1, Math.ceil(chars / CHARACTERS_PER_CREDIT));
}

export function planOf(id: string | null | undefined): Plan {
  return PLANS[(PLAN_IDS as readonly string[]).includes(id ?? "") ? (id as PlanId) : "free"];
}
