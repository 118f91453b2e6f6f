/** Input limits shared by the API, the Remix forms and the engine protocol (DESIGN §1). */
export const LIMITS = {
  /** The most any plan takes (a plan's own limit is `Plan.textChars`, checked when the task is created). */
  textChars: { min: 1, max: 50_000 },
  voiceName: { min: 1, max: 100 },
  transcriptChars: 5_000,
  designDescription: { min: 1, max: 500 },
  designText: { min: 1, max: 500 },
  referenceDurationMs: { min: 10_000, max: 5 * 60_000 },
  referenceBytes: 50 * 1024 * 1024,
} as const;
