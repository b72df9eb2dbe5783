import { describe, expect, inject, it } from 'vitest';
import { runNaiveBench, SMOKE_SIZE } from '../../bench/naive/scenario.js';

/**
 * A smoke-sized run of bench/naive (the full run: `npx tsx bench/naive/run.ts --write`): strava-sync's real stack
 * and the naive program each play the same compressed day against a fresh emulator with dropped webhooks, a
 * forced 429 burst and a 5xx period. Asserts that the harness measured both sides and that its correctness
 * checks hold, never a timing target.
 */
describe('strava-sync side by side with the naive design (smoke size)', () => {
  it('plays the same day against both, counts both, and strava-sync repairs every missed create', { timeout: 150_000 }, async () => {
    const report = await runNaiveBench({
      size: SMOKE_SIZE,
      seed: 7,
      databaseServerUrl: inject('databaseServerUrl'),
      workflowBundlePath: inject('workflowBundlePath'),
      log: (line) => console.log(line),
    });
    const { strava, naive } = report;
    console.log(`naive bench smoke: ${JSON.stringify({ strava: { ...strava, freshness: undefined }, naive: { ...naive, freshness: undefined } })}`);
    for (const side of [strava, naive]) {
      // Every planned change was made and tracked, the faults happened, the requests were counted.
      expect(side.freshness.changes).toBe(SMOKE_SIZE.changes);
      expect(side.webhooks.events).toBeGreaterThan(0);
      expect(side.webhooks.dropped).toBeGreaterThan(0);
      expect(side.serverErrors).toBeGreaterThan(0);
      expect(side.requests.api).toBeGreaterThan(0);
      expect(side.burst.lengthMs).toBeGreaterThan(0);
      expect(side.freshness.visibleMs.length).toBeGreaterThan(0);
    }
    // The same burst for both; both ran into it, and strava-sync's governor sent nothing refused outside it.
    expect(naive.burst.lengthMs).toBe(strava.burst.lengthMs);
    expect(strava.rateLimited.total - strava.rateLimited.forced).toBe(0);
    expect(naive.rateLimited.forced).toBeGreaterThan(0);
    // Creates whose webhook was dropped or whose fetch failed are repaired by backfill: nothing stays missing.
    expect(strava.afterExtra.missing).toBe(0);
  });
});
