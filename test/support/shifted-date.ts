// Moves this isolate's Date `days` ahead: `Date.now()` and `new Date()` read the
// real clock plus the offset; dates built from explicit values are unchanged.
// workerd does not start under libfaketime, so this is how the Worker's unit
// tests run with the clock a year ahead (ADR 0014). D1's SQLite keeps the real
// clock (its `unixepoch()` column defaults), which is why only test/unit runs shifted.
export function moveDateAhead(days: number): void {
  if (!Number.isFinite(days) || days <= 0) return;
  const offsetMs = days * 86_400_000;
  const RealDate = globalThis.Date;
  class ShiftedDate extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...(args as ConstructorParameters<DateConstructor>));
    }
    static override now(): number {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}
