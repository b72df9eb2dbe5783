import { describe, expect, inject, it } from 'vitest';
import { CI_SIZE, runChaos } from './scenario.js';

/**
 * Chaos convergence (issue 16), CI-sized: 20 athletes, 400 activities, 250 changes while the emulator drops,
 * duplicates, delays and reorders webhooks, answers 5xx and forces a 429 period, and the worker is SIGKILLed twice,
 * the Temporal dev server and the API restart and PostgreSQL is unreachable for a few seconds (20 s in the
 * full-size run, bench/chaos/run.ts). Afterwards the database must equal Strava's ground truth.
 */
describe('chaos convergence', () => {
  it('ends with the database equal to the ground truth, nothing acknowledged lost, histories replaying', { timeout: 240_000 }, async () => {
    const report = await runChaos({
      size: CI_SIZE,
      seed: 16,
      databaseServerUrl: inject('databaseServerUrl'),
      workflowBundlePath: inject('workflowBundlePath'),
      log: (line) => console.log(line),
    });
    console.log(
      `chaos: ${report.storm.applied} changes, webhooks ${JSON.stringify(report.webhooks)}, 5xx ${report.serverErrors}, ` +
        `429 ${JSON.stringify(report.rateLimited)}, divergence at storm end ${JSON.stringify(report.divergenceAtStormEnd)}, ` +
        `repairs ${report.repairs}, converged in ${(report.convergeMs / 1000).toFixed(1)} s, requests ${report.requests}, total ${(report.totalMs / 1000).toFixed(1)} s`,
    );
    expect(report.storm.applied).toBe(CI_SIZE.changes);
    expect(report.divergenceFinal).toEqual([]);
    expect(report.converged).toBe(true);
    expect(report.ackedLost).toEqual([]);
    // The forced period happened and was answered with 429s; outside it, the governor kept every call within the limits.
    expect(report.force429).not.toBeNull();
    expect(report.rateLimited.forced).toBeGreaterThan(0);
    expect(report.rateLimited.outsideForced).toBe(0);
    expect(report.revokedPurged).toEqual({ activities: 0, tokens: 0, tombstones: 0, state: 'revoked', workflow: 'COMPLETED' });
    expect(report.workflows.filter((w) => !w.ok)).toEqual([]);
    expect(report.replay.failures).toEqual([]);
    expect(report.replay.histories).toBeGreaterThanOrEqual(CI_SIZE.athletes);
    // Every athlete still connected refreshed its token and had its refresh token rotated at least once.
    expect(Object.values(report.rotations).every((n) => n >= 1)).toBe(true);
    // The faults really happened.
    expect(report.webhooks.dropped).toBeGreaterThan(0);
    expect(report.webhooks.duplicated).toBeGreaterThan(0);
    expect(report.serverErrors).toBeGreaterThan(0);
  });
});
