/**
 * Text the engine can say: at least one letter or digit. Zero-width spaces,
 * joiners, direction marks and other format characters (Unicode category Cf)
 * pass a length check but produce no speech, and were charged for it.
 */
const SPEAKABLE = /[\p{L}\p{N}]/u;

export function hasSpeakableText(text: string): boolean {
  return SPEAKABLE.test(text);
}

export const NOT_SPEAKABLE = "must contain letters or digits to speak (zero-width and direction marks alone are not speech)";
