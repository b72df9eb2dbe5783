/**
 * Preloaded (`node --import`) into the chaos scenario's API and worker processes: shifts this process's wall
 * clock by CHAOS_CLOCK_OFFSET_MS, so a 15-minute rate window boundary falls where the scenario needs it (the
 * emulator's clock is shifted the same way). Only Date moves; timers and durations are unaffected.
 */
const offset = Number(process.env.CHAOS_CLOCK_OFFSET_MS ?? 0);

if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  const shifted = function ShiftedDate(this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(RealDate.now() + offset).toString();
    return args.length === 0 ? new RealDate(RealDate.now() + offset) : new (RealDate as unknown as new (...a: unknown[]) => Date)(...args);
  } as unknown as DateConstructor;
  Object.setPrototypeOf(shifted, RealDate);
  Object.defineProperty(shifted, 'prototype', { value: RealDate.prototype });
  shifted.now = () => RealDate.now() + offset;
  globalThis.Date = shifted;
}

export {};
