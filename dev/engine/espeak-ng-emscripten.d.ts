// The package ships JavaScript only; this declares the part of its API the dev engine uses.
declare module "@echogarden/espeak-ng-emscripten" {
  export interface ESpeakNGWorker {
    /** 0 on success; non-zero when eSpeak has no such voice. Accepts "lang+variant". */
    set_voice(name: string): number;
    set_rate(wordsPerMinute: number): void;
    set_pitch(pitch: number): void;
    set_range(range: number): void;
    get_samplerate(): number;
    /**
     * Calls back with chunks of 16-bit PCM; returning true aborts synthesis. Text is read as SSML; it may
     * be given as a pointer to a NUL-terminated UTF-8 string in the module's memory (`{ ptr }`).
     */
    synthesize(text: string | { ptr: number }, onChunk: (samples: Int16Array, events: unknown[]) => boolean): void;
  }
  export interface ESpeakModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
    /** The WASM linear memory, as bytes (a new view when the memory grows). */
    HEAPU8: Uint8Array;
    /** The C library's malloc in the module's memory; 0 when it fails. */
    _malloc(size: number): number;
  }
  const createModule: (overrides?: Record<string, unknown>) => Promise<ESpeakModule>;
  export default createModule;
}
