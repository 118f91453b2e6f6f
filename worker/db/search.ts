import { sql, type AnyColumn, type SQL } from "drizzle-orm";

/**
 * `column` contains `term` literally (case-insensitive for ASCII, as SQLite's
 * LIKE is): `%`, `_` and `\` in the term are escaped, and the ESCAPE clause
 * makes SQLite honour the escapes.
 */
export function containsText(column: AnyColumn, term: string): SQL {
  const pattern = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`${column} LIKE ${pattern} ESCAPE '\\'`;
}
