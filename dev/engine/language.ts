import type { LanguageCode } from "../../worker/engine/protocol.ts";

/** eSpeak language voice for each protocol language code (other than auto). */
const ESPEAK_LANGUAGE: Record<Exclude<LanguageCode, "auto">, string> = {
  en: "en-us",
  zh: "cmn", // eSpeak names Mandarin "cmn"; "zh" is not a voice there
  ja: "ja",
  ko: "ko",
  de: "de",
  fr: "fr",
  ru: "ru",
  pt: "pt-br",
  es: "es",
  it: "it",
};

/**
 * `auto` is a guess from the script, the cheapest signal there is: kana means
 * Japanese (Japanese text mixes kana with Han), Han alone means Chinese,
 * Hangul Korean, Cyrillic Russian; anything else is spoken as English.
 */
export function guessLanguage(text: string): Exclude<LanguageCode, "auto"> {
  if (/[\u3040-\u30ff]/u.test(text)) return "ja";
  if (/[\uac00-\ud7af\u1100-\u11ff]/u.test(text)) return "ko";
  if (/\p{Script=Han}/u.test(text)) return "zh";
  if (/\p{Script=Cyrillic}/u.test(text)) return "ru";
  return "en";
}

export function espeakLanguage(language: LanguageCode, text: string): string {
  return ESPEAK_LANGUAGE[language === "auto" ? guessLanguage(text) : language];
}
