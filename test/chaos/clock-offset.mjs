/**
 * Preloaded (`node --import`) into the chaos scenario's API and worker processes: shifts this process's wall
 * clock by CHAOS_CLOCK_OFFSET_MS, so a 15-minute rate window boundary falls where the scenario needs it (the
 * emulator's clock is shifted the same way). Only Date moves; timers and durations are unaffected. Plain
 * JavaScript: the Temporal worker's threads load it too, before any TypeScript loader is registered there.
 */
const offset = Number(process.env.CHAOS_CLOCK_OFFSET_MS ?? 0);

if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  function ShiftedDate(...args) {
    if (!new.target) return new RealDate(RealDate.now() + offset).toString();
    return args.length === 0 ? new RealDate(RealDate.now() + offset) : new RealDate(...args);
  }
  Object.setPrototypeOf(ShiftedDate, RealDate);
  Object.defineProperty(ShiftedDate, 'prototype', { value: RealDate.prototype });
  ShiftedDate.now = () => RealDate.now() + offset;
  globalThis.Date = ShiftedDate;
}
