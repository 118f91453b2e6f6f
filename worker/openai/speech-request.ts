import * as z from "zod";
import { LanguageCode } from "../engine/protocol";

/**
 * OpenAI's model names, mapped onto what Utter runs. Every name speaks with the
 * voice's own engine model (Qwen3-TTS Base for cloned voices, VoiceDesign for
 * designed ones): the names exist so clients written for OpenAI work unchanged.
 */
export const SPEECH_MODELS = {
  "utter-tts": "Qwen3-TTS in the voice's own model (the default)",
  "tts-1": "alias of utter-tts",
  "tts-1-hd": "alias of utter-tts",
  "gpt-4o-mini-tts": "alias of utter-tts",
} as const;
export type SpeechModel = keyof typeof SPEECH_MODELS;

/** Formats Utter answers; OpenAI's `opus`, `aac` and `flac` are refused with these named (docs/openai.md). */
export const SPEECH_FORMATS = ["mp3", "wav", "pcm"] as const;
export type SpeechFormat = (typeof SPEECH_FORMATS)[number];
const OPENAI_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"] as const;

export const SpeechRequest = z.object({
  model: z.string().min(1).max(100),
  input: z.string(),
  voice: z.union([z.string().min(1).max(100), z.object({ id: z.string().min(1).max(100) })]),
  /** Delivery instructions: accepted; cloned voices' model takes none, so they are ignored (docs/openai.md). */
  instructions: z.string().max(4096).optional(),
  response_format: z.enum(OPENAI_FORMATS).default("mp3"),
  speed: z.number().min(0.25).max(4).default(1),
  stream_format: z.enum(["audio", "sse"]).default("audio"),
  /** Utter's extension: the text's language (OpenAI detects it; so does `auto`). */
  language: LanguageCode.default("auto"),
});
export type SpeechRequest = z.infer<typeof SpeechRequest>;

export const CONTENT_TYPES: Record<SpeechFormat, string> = { mp3: "audio/mpeg", wav: "audio/wav", pcm: "audio/pcm" };
