import { readFileSync } from "node:fs";
import type { Plugin } from "vite";

/**
 * Tests run inside workerd, which has no file system: `import x from "./a.wav?bytes"`
 * inlines the file as a Uint8Array at transform time.
 */
export function fixtureBytesPlugin(): Plugin {
  return {
    name: "utter-fixture-bytes",
    enforce: "pre",
    load(id) {
      if (!id.endsWith("?bytes")) return null;
      const file = id.slice(0, -"?bytes".length);
      const b64 = readFileSync(file).toString("base64");
      return `export default Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0));`;
    },
  };
}
