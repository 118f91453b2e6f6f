import { LANGUAGE_CODES, type LanguageCode } from "../engine/protocol";

export const LANGUAGES: readonly { code: LanguageCode; name: string }[] = [
  { code: "auto", name: "Auto-detect" },
  { code: "en", name: "English" },
  { code: "zh", name: "Chinese" },
  { code: "ja", name: "Japanese" },
  { code: "ko", name: "Korean" },
  { code: "de", name: "German" },
  { code: "fr", name: "French" },
  { code: "ru", name: "Russian" },
  { code: "pt", name: "Portuguese" },
  { code: "es", name: "Spanish" },
  { code: "it", name: "Italian" },
];

// Keep the list and the protocol's codes in step.
if (LANGUAGES.length !== LANGUAGE_CODES.length) throw new Error("LANGUAGES and LANGUAGE_CODES differ");
