/**
 * Speech synthesis with eSpeak NG, compiled to JavaScript/WASM by
 * @echogarden/espeak-ng-emscripten.
 *
 * LICENCE BOUNDARY: that package is GPL-3.0. It is loaded only here, in the
 * separate development-engine process, which talks to the Worker over HTTP.
 * Nothing under worker/, app/ or durable-objects/ may import this file or the
 * package, so the Worker bundle never contains GPL code.
 */
import type { ESpeakModule, ESpeakNGWorker } from "@echogarden/espeak-ng-emscripten";
import { escapeSsmlWithMap, espeakWords, type EspeakEvent, type SynthWord } from "./alignment.ts";
import { int16ToFloat32 } from "./audio-dsp.ts";
import { JobError } from "./job-errors.ts";
import type { VoiceTraits } from "./voice-settings.ts";

export type SynthRequest = {
  text: string;
  /** eSpeak language voice, e.g. "en-us". */
  language: string;
  traits: VoiceTraits;
  /** "timings": spoken again only for its word timings (a part read back, ADR 0026); the audio is thrown away. */
  purpose?: "timings";
};
/** `words`: when each word is spoken, from the synthesiser's own events (absent from synthesisers that cannot tell). */
export type SynthResult = { samples: Float32Array; sampleRate: number; words?: SynthWord[] };
/** The job runner's view of a TTS engine, so tests can swap in a tone generator. */
export type Synthesizer = (request: SynthRequest) => Promise<SynthResult>;

type Espeak = { worker: ESpeakNGWorker; module: ESpeakModule; pristine: Uint8Array; textPtr: number };
let instance: Promise<Espeak> | undefined;

/**
 * Room for one call's text, allocated before the snapshot below. Segments are at most 400 characters
 * (segmentation.ts); escaped and UTF-8 encoded that is under 8 KiB, so this leaves a wide margin.
 */
export const ESPEAK_TEXT_CAPACITY = 64 * 1024;

/**
 * One eSpeak instance per process: loading its 24 MB of voice data takes ~0.1–0.2 s.
 *
 * eSpeak keeps state between calls in its WASM memory (the C library's `rand()`, which its voice
 * source draws on, and its synthesis buffers): the same text came out a few samples longer or
 * shorter each time. So the memory is copied once, right after loading, and put back before every
 * call (17 MB, a few ms): each call starts from the same state, and the same input gives the same bytes.
 *
 * Putting memory back also forgets every allocation made since the copy, so nothing that outlives a
 * call may be allocated after it. The generated glue passes string arguments through a buffer it
 * allocates on first use and grows by freeing and reallocating: after a restore that freed memory the
 * allocator already thought free, and from the third call on eSpeak spoke only the first few words.
 * So the glue's buffer is allocated before the copy (one short `set_voice`), the text travels in a
 * buffer of our own allocated before it too, and voice names stay far below the glue's 128 bytes.
 */
function loadEspeak(): Promise<Espeak> {
  instance ??= import("@echogarden/espeak-ng-emscripten").then(async ({ default: createModule }) => {
    const module = await createModule();
    const worker = new module.eSpeakNGWorker();
    worker.set_voice("en-us");
    const textPtr = module._malloc(ESPEAK_TEXT_CAPACITY);
    if (!textPtr) throw new Error("eSpeak could not allocate its text buffer");
    return { worker, module, pristine: module.HEAPU8.slice(), textPtr };
  });
  return instance;
}

/** Loads eSpeak ahead of the first job; resolves with the load time in ms. */
export async function warmUpEspeak(): Promise<number> {
  const started = performance.now();
  await loadEspeak();
  return Math.round(performance.now() - started);
}

export function createEspeakSynthesizer(): Synthesizer {
  return async ({ text, language, traits }) => {
    const { worker: espeak, module, pristine, textPtr } = await loadEspeak();
    // eSpeak reads its input as SSML, so user text must not be able to inject markup; the map
    // takes eSpeak's word positions back to the text's own offsets.
    const { escaped, map } = escapeSsmlWithMap(text);
    const encoded = new TextEncoder().encode(escaped);
    if (encoded.length + 1 > ESPEAK_TEXT_CAPACITY) {
      throw new JobError("generation_failed", `a segment of ${encoded.length} bytes is longer than eSpeak's ${ESPEAK_TEXT_CAPACITY}`, false);
    }
    // Back to the state right after loading (see loadEspeak), then every setting is set. Synthesis
    // is synchronous, so calls from concurrent jobs cannot interleave between these lines.
    const heap = module.HEAPU8;
    heap.set(pristine);
    heap.set(encoded, textPtr);
    heap[textPtr + encoded.length] = 0;
    if (espeak.set_voice(`${language}+${traits.variant}`) !== 0 && espeak.set_voice(language) !== 0) {
      throw new JobError("generation_failed", `eSpeak has no voice for language "${language}"`, false);
    }
    espeak.set_rate(traits.rate);
    espeak.set_pitch(traits.pitch);
    espeak.set_range(traits.range);
    const chunks: Int16Array[] = [];
    const events: EspeakEvent[] = [];
    espeak.synthesize({ ptr: textPtr }, (samples, chunkEvents) => {
      if (samples.length > 0) chunks.push(samples);
      events.push(...(chunkEvents as EspeakEvent[]));
      return false; // keep going
    });
    const pcm = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      pcm.set(chunk, offset);
      offset += chunk.length;
    }
    const sampleRate = espeak.get_samplerate();
    return { samples: int16ToFloat32(pcm), sampleRate, words: espeakWords(text, map, events, pcm.length / sampleRate) };
  };
}
