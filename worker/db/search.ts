import { sql, type AnyColumn, type SQL } from "drizzle-orm";

/**
 * `column` contains `term` literally, case-insensitive for ASCII (SQLite's
 * `lower()` folds only ASCII, as LIKE does). `instr` rather than LIKE: D1
 * caps LIKE patterns at 50 bytes ("LIKE or GLOB pattern too complex"), so any
 * search the schemas allow (200 characters) must not become a pattern; and a
 * literal match needs no escaping of `%`, `_` or `\`.
 */
export function containsText(column: AnyColumn, term: string): SQL {
  return sql`instr(lower(${column}), lower(${term})) > 0`;
}
