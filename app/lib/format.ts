/** Small formatting helpers shared by the pages (no dependencies: they run in the browser too). */

/** 83_000 → "1:23"; 3_725_000 → "1:02:05". */
export function formatClock(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "0:00";
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** 83_000 → "1 min 23 s"; for screen readers and hints. */
export function formatDurationWords(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return "unknown length";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const numberFormat = new Intl.NumberFormat("en");
export function formatNumber(n: number): string {
  return numberFormat.format(n);
}

/** A stable, locale-independent date so server and browser render the same text (no hydration mismatch). */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const hh = String(d.getUTCHours()).padStart(2, "0");
  const mm = String(d.getUTCMinutes()).padStart(2, "0");
  return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()}, ${hh}:${mm} UTC`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

export const STAGE_LABELS: Record<string, string> = {
  started: "Starting",
  preparing_voice: "Preparing the voice",
  generating: "Making speech",
  synthesizing: "Making speech",
  stitching: "Joining the segments",
  uploading: "Saving the audio",
};

export function stageLabel(stage: string | null | undefined): string {
  if (!stage) return "";
  return STAGE_LABELS[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1).replace(/_/g, " ");
}

export const STATUS_LABELS: Record<string, string> = {
  queued: "Waiting in line",
  dispatched: "Starting",
  running: "In progress",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

export function isTerminalStatus(status: string | null | undefined): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}
