/**
 * A D1 binding whose statements matching `pattern` fail when run, as a
 * database that drops a write would; every other statement goes to the real
 * database. Used to make a release or a bookkeeping write fail on purpose.
 */
export function faultyD1(db: D1Database, pattern: RegExp, error = "D1_ERROR: Network connection lost."): D1Database & { failures: number } {
  const state = { failures: 0 };
  const failing = (): D1PreparedStatement => {
    const fail = async () => {
      state.failures += 1;
      throw new Error(error);
    };
    const stmt = { bind: () => stmt, run: fail, first: fail, all: fail, raw: fail } as unknown as D1PreparedStatement;
    return stmt;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "failures") return state.failures;
      if (prop === "prepare") return (sql: string) => (pattern.test(sql) ? failing() : target.prepare(sql));
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as D1Database & { failures: number };
}
