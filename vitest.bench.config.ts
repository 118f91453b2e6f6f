import { defineConfig, type ConfigEnv, type ViteUserConfig } from "vitest/config";
import base from "./vitest.config";

// `npm run bench:round-trips`: the worker test setup, running only the bench's files.
export default defineConfig(async (env) => {
  const config = await (base as unknown as (e: ConfigEnv) => Promise<ViteUserConfig>)(env);
  return { ...config, test: { ...config.test, include: ["bench/**/*.bench.test.ts"], testTimeout: 120_000 } };
});
