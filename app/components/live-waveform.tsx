import { useEffect, useRef } from "react";

interface Props {
  /** Peak level (0..1) per bar, for everything received so far. */
  peaks: readonly number[];
  /** Bars heard so far (drawn in the accent colour). */
  heardBars: number;
  /** Bars the full width stands for, at least (so the first second does not fill it). */
  minBars?: number;
  height?: number;
}

/**
 * The waveform of the live audio as it arrives: one bar per 50 ms received,
 * the part already heard in the accent colour. Redrawn on every change, which
 * the player throttles (a few times a second); a canvas, not DOM nodes, so a
 * five-minute stream costs one draw.
 */
export function LiveWaveform({ peaks, heardBars, minBars = 200, height = 40 }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const el = canvas.current;
    const ctx = el?.getContext("2d");
    if (!el || !ctx) return;
    const ratio = window.devicePixelRatio || 1;
    const width = el.clientWidth || 300;
    el.width = Math.round(width * ratio);
    el.height = Math.round(height * ratio);
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    const styles = getComputedStyle(el);
    const wave = styles.getPropertyValue("--wave").trim() || "#4a5675";
    const accent = styles.getPropertyValue("--accent").trim() || "#7c9cff";
    const bars = Math.max(minBars, peaks.length);
    const step = width / bars;
    for (let i = 0; i < peaks.length; i++) {
      const h = Math.max(1, peaks[i]! * height);
      ctx.fillStyle = i < heardBars ? accent : wave;
      ctx.fillRect(i * step, (height - h) / 2, Math.max(1, step * 0.8), h);
    }
  }, [peaks, peaks.length, heardBars, minBars, height]);
  return (
    <canvas
      ref={canvas}
      className="live-waveform"
      style={{ height }}
      aria-hidden="true"
      data-testid="live-waveform"
      data-bars={peaks.length}
    />
  );
}
