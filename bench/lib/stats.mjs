// Percentiles and plain-text tables.

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values, p) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function summary(values) {
  return {
    n: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
    min: values.length ? Math.min(...values) : NaN,
  };
}

export const median = (values) => percentile(values, 50);
export const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

/** Milliseconds with sensible precision. */
export function ms(v) {
  if (!Number.isFinite(v)) return "—";
  return Math.abs(v) >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

export function seconds(v) {
  return Number.isFinite(v) ? `${(v / 1000).toFixed(2)} s` : "—";
}

/** A Markdown table (also readable in a terminal). */
export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map(String));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(cells[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}
