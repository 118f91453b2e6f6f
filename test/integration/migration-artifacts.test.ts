import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

/** Applies the named migrations' statements to the migration-test database, in order. */
async function apply(names: (n: string) => boolean) {
  for (const m of env.TEST_MIGRATIONS.filter((m) => names(m.name))) {
    for (const q of m.queries) await env.MIGRATION_DB.prepare(q).run();
  }
}

describe("migration 0004: task_artifacts replaces the MP3 column", () => {
  it("backfills finals, MP3s, previews and the segments of succeeded tasks, so existing audio stays playable", async () => {
    const db = env.MIGRATION_DB;
    await apply((n) => n < "0004");
    const now = Date.UTC(2026, 10, 20);
    await db.batch([
      db.prepare(`INSERT INTO user (id, name, email, email_verified, created_at, updated_at) VALUES ('u1', 'U', 'u1@example.com', 0, ?1, ?1)`).bind(now),
      db
        .prepare(
          `INSERT INTO tasks (id, user_id, kind, status, generation_id, input, cost, segment_count, created_at, updated_at, finished_at) VALUES
           ('t1', 'u1', 'generate', 'succeeded', 'g1', '{}', 1, 2, ?1, ?1, ?1),
           ('t2', 'u1', 'generate', 'cancelled', 'g2', '{}', 1, 3, ?1, ?1, ?1),
           ('t3', 'u1', 'design_preview', 'succeeded', NULL, '{}', 5, 1, ?1, ?1, ?1)`,
        )
        .bind(now),
      db.prepare(`UPDATE tasks SET result = '{"size_bytes": 900}' WHERE id = 't3'`),
      db
        .prepare(
          `INSERT INTO generations (id, user_id, voice_name, task_id, text, language, status, audio_key, size_bytes, mp3_size_bytes, cost, created_at, completed_at) VALUES
           ('g1', 'u1', 'V', 't1', 'hi', 'en', 'succeeded', 'users/u1/generations/g1.wav', 1000, 300, 1, ?1, ?1),
           ('g2', 'u1', 'V', 't2', 'hi', 'en', 'cancelled', NULL, NULL, NULL, 1, ?1, NULL)`,
        )
        .bind(now),
    ]);
    await apply((n) => n.startsWith("0004"));
    const rows = await db.prepare(`SELECT task_id, kind, idx, r2_key, content_type, size_bytes FROM task_artifacts ORDER BY task_id, kind, idx`).all();
    expect(rows.results).toEqual([
      { task_id: "t1", kind: "final", idx: -1, r2_key: "users/u1/generations/g1.wav", content_type: "audio/wav", size_bytes: 1000 },
      { task_id: "t1", kind: "final_mp3", idx: -1, r2_key: "users/u1/generations/g1.mp3", content_type: "audio/mpeg", size_bytes: 300 },
      { task_id: "t1", kind: "segment", idx: 0, r2_key: "users/u1/tasks/t1/segments/0.wav", content_type: "audio/wav", size_bytes: null },
      { task_id: "t1", kind: "segment", idx: 1, r2_key: "users/u1/tasks/t1/segments/1.wav", content_type: "audio/wav", size_bytes: null },
      { task_id: "t3", kind: "final", idx: -1, r2_key: "users/u1/previews/t3.wav", content_type: "audio/wav", size_bytes: 900 },
      { task_id: "t3", kind: "segment", idx: 0, r2_key: "users/u1/tasks/t3/segments/0.wav", content_type: "audio/wav", size_bytes: null },
    ]);
    const cols = await db.prepare(`SELECT name FROM pragma_table_info('generations')`).all<{ name: string }>();
    expect(cols.results.map((c) => c.name)).not.toContain("mp3_size_bytes");
  });
});
