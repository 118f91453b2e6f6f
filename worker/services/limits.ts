/** Input limits shared by the API, the Remix forms and the engine protocol (DESIGN §1). */
export const LIMITS = {
  textChars: { min: 1, max: 5_000 },
  voiceName: { min: 1, max: 100 },
  transcriptChars: 5_000,
  designDescription: { min: 1, max: 500 },
  designText: { min: 1, max: 500 },
  referenceDurationMs: { min: 10_000, max: 5 * 60_000 },
  referenceBytes: 50 * 1024 * 1024,
} as const;
