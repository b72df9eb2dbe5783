/**
 * The emulator's notion of now: real time plus an offset the tests control, so a test can cross a 15-minute
 * rate window or a 6-hour token expiry without waiting. Timers (webhook retries, delays) stay on real time.
 */
export class EmulatorClock {
  private offsetMs = 0;

  constructor(private readonly startAtMs?: number) {
    this.reset();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  advance(ms: number): number {
    this.offsetMs += ms;
    return this.now();
  }

  set(epochMs: number): number {
    this.offsetMs = epochMs - Date.now();
    return this.now();
  }

  /** Back to the start-up setting: startAtMs from now on, or real time. */
  reset(): void {
    this.offsetMs = this.startAtMs === undefined ? 0 : this.startAtMs - Date.now();
  }
}
