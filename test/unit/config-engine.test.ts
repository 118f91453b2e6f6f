import { describe, expect, it } from "vitest";
import { AppConfig } from "../../worker/lib/config";
import { createEngineClient } from "../../worker/engine/client";

const base = {
  APP_URL: "https://utter.example",
  BETTER_AUTH_SECRET: "x".repeat(32),
  JOB_TOKEN_SECRET: "y".repeat(32),
  ENGINE_URL: "https://gpu.example:8000",
  ENGINE_TOKEN: "engine-token",
};

describe("ENGINE=selfhosted", () => {
  it("is a valid engine, and an unknown one is named in the error", () => {
    expect(AppConfig.parse({ ...base, ENGINE: "selfhosted" }).ENGINE).toBe("selfhosted");
    const bad = AppConfig.safeParse({ ...base, ENGINE: "gpu-farm" });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["ENGINE"]);
  });

  it("uses the same HTTP client: submit goes to ENGINE_URL/jobs with the engine token", async () => {
    const config = AppConfig.parse({ ...base, ENGINE: "selfhosted" });
    const seen: Request[] = [];
    const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init));
      return Response.json({ call_id: "sh-1" }, { status: 202 });
    }) as typeof fetch;
    const client = createEngineClient(config, fetcher);
    await expect(client.submit({ job_id: "job_1" } as never)).resolves.toEqual({ call_id: "sh-1" });
    expect(seen[0]?.url).toBe("https://gpu.example:8000/jobs");
    expect(seen[0]?.headers.get("authorization")).toBe("Bearer engine-token");
  });
});
