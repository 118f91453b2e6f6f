import { useEffect, useState } from "react";

/**
 * The engine uploads a generation's MP3 after it reports `completed` (the WAV
 * comes first; DESIGN §4, ADR 0008), so the completion message says
 * `formats: ["wav"]` and the MP3 exists a moment later. Until it is seen,
 * this asks `GET /api/generations/:id` every `everyMs`, at most `tries` times,
 * and returns true once the generation lists MP3.
 */
export function useLateMp3(generationId: string | null | undefined, known: boolean, { everyMs = 1_500, tries = 20 } = {}): boolean {
  const [found, setFound] = useState(false);
  useEffect(() => {
    if (!generationId || known) return;
    let stopped = false;
    let left = tries;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    const look = async () => {
      left -= 1;
      try {
        const res = await fetch(`/api/generations/${encodeURIComponent(generationId)}`, { signal: controller.signal, headers: { accept: "application/json" } });
        if (res.ok) {
          const body = (await res.json()) as { generation?: { formats?: string[] } };
          if (body.generation?.formats?.includes("mp3")) {
            if (!stopped) setFound(true);
            return;
          }
        }
      } catch {
        if (stopped) return;
      }
      if (!stopped && left > 0) timer = setTimeout(() => void look(), everyMs);
    };
    timer = setTimeout(() => void look(), everyMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
    };
  }, [generationId, known, everyMs, tries]);
  return known || found;
}
