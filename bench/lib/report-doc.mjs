// Writes the "## Pipeline latency" section of docs/benchmarks.md, leaving
// every other section (e.g. "## Page weight") exactly as it is.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const HEADING = "## Pipeline latency";

export function writeSection(path, body) {
  const section = `${HEADING}\n\n${body.trim()}\n`;
  // Read as late as possible: someone else may be editing another section.
  if (!existsSync(path)) {
    writeFileSync(path, `# Benchmarks\n\nFigures measured on a development machine with the scripts in \`bench/\`.\n\n${section}`);
    return "created";
  }
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === HEADING);
  if (start < 0) {
    writeFileSync(path, `${text.replace(/\n*$/, "\n\n")}${section}`);
    return "appended";
  }
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const before = lines.slice(0, start).join("\n");
  const after = lines.slice(end).join("\n");
  writeFileSync(path, `${before}${before ? "\n" : ""}${section}${after ? `\n${after}` : ""}`);
  return "replaced";
}
