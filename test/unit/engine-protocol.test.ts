import { describe, expect, it } from "vitest";
import { PROTOCOL_SCHEMAS, type ProtocolSchemaName } from "../../worker/engine/protocol";

// The same files the Python engine's tests load (modal/tests/test_protocol_fixtures.py).
const valid = import.meta.glob<{ schema: ProtocolSchemaName; description: string; value: unknown }>("../fixtures/engine-protocol/valid/*.json", {
  eager: true,
  import: "default",
});
const invalid = import.meta.glob<{ schema: ProtocolSchemaName; description: string; value: unknown }>("../fixtures/engine-protocol/invalid/*.json", {
  eager: true,
  import: "default",
});

describe("engine protocol fixtures, v1 and v2 (shared with the Python engine)", () => {
  it("has fixtures for every schema", () => {
    const named = new Set([...Object.values(valid), ...Object.values(invalid)].map((f) => f.schema));
    expect([...named].sort()).toEqual(Object.keys(PROTOCOL_SCHEMAS).sort());
    expect(Object.keys(valid).length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(invalid).length).toBeGreaterThanOrEqual(20);
  });

  for (const [file, fixture] of Object.entries(valid)) {
    it(`accepts ${file.split("/").pop()}: ${fixture.description}`, () => {
      const result = PROTOCOL_SCHEMAS[fixture.schema].safeParse(fixture.value);
      expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
    });
  }
  for (const [file, fixture] of Object.entries(invalid)) {
    it(`rejects ${file.split("/").pop()}: ${fixture.description}`, () => {
      expect(PROTOCOL_SCHEMAS[fixture.schema].safeParse(fixture.value).success).toBe(false);
    });
  }
});
