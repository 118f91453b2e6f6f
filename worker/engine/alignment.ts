/**
 * The `alignment` artifact's content (issue 11, ADR 0021): when each word of a
 * generation is spoken in its FINAL file (pauses and crossfades between parts
 * already applied by the engine). Defined once here; mirrored in pydantic by
 * `modal/utter_engine/alignment.py`; pinned by
 * `test/fixtures/engine-protocol/v2/alignment.json` (valid and invalid cases,
 * checked in both languages). The upload route parses every alignment with
 * this schema before storing it, so readers (subtitles, the player) can trust
 * its order and bounds. Free of Worker-only imports (the dev engine uses it).
 */
import * as z from "zod";

/** An hour of speech is ~10,000 words; this leaves room for fast talkers and CJK characters. */
export const ALIGNMENT_MAX_WORDS = 100_000;
/** Times are checked against the duration with this slack (rounding of ms to samples). */
export const ALIGNMENT_SLACK_SECONDS = 0.05;

const seconds = z
  .number()
  .min(0)
  .max(24 * 3600);

export const AlignedWord = z
  .strictObject({
    /** The word as written in the generation's text (punctuation attached, as a reader sees it). */
    text: z.string().min(1).max(200),
    /** Seconds from the start of the final audio. */
    start: seconds,
    end: seconds,
    /** UTF-16 offsets into the generation's text: `text === generation.text.slice(char_start, char_end)` when given. */
    char_start: z.number().int().min(0).optional(),
    char_end: z.number().int().min(0).optional(),
  })
  .refine((w) => w.end >= w.start, { message: "end is before start", path: ["end"] })
  .refine((w) => (w.char_start === undefined) === (w.char_end === undefined), {
    message: "char_start and char_end come together",
    path: ["char_end"],
  })
  .refine((w) => w.char_start === undefined || w.char_end! > w.char_start, {
    message: "char_end must be after char_start",
    path: ["char_end"],
  });
export type AlignedWord = z.infer<typeof AlignedWord>;

export const Alignment = z
  .strictObject({
    version: z.literal(1),
    /** Seconds of the final audio the times refer to. */
    duration: seconds.refine((d) => d > 0, "duration must be positive"),
    /** Where the times come from: `espeak` (the synthesiser's own events), `asr` (a recogniser's word timestamps), … */
    source: z.string().min(1).max(40),
    words: z.array(AlignedWord).max(ALIGNMENT_MAX_WORDS),
  })
  .superRefine((a, ctx) => {
    let prevStart = 0;
    let prevChar = 0;
    for (const [i, w] of a.words.entries()) {
      if (w.start < prevStart)
        ctx.addIssue({ code: "custom", path: ["words", i, "start"], message: `word ${i} starts before word ${i - 1}` });
      if (w.end > a.duration + ALIGNMENT_SLACK_SECONDS) {
        ctx.addIssue({
          code: "custom",
          path: ["words", i, "end"],
          message: `word ${i} ends at ${w.end} s, after the audio's ${a.duration} s`,
        });
      }
      if (w.char_start !== undefined) {
        if (w.char_start < prevChar)
          ctx.addIssue({ code: "custom", path: ["words", i, "char_start"], message: `word ${i} comes before word ${i - 1} in the text` });
        prevChar = w.char_end!;
      }
      prevStart = w.start;
    }
  });
export type Alignment = z.infer<typeof Alignment>;
