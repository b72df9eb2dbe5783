import { createHash, randomBytes } from 'node:crypto';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createStravaClient, type StravaClientOptions } from '../../src/strava/client.js';

export function clientFor(emulator: RunningEmulator, overrides: Partial<StravaClientOptions> = {}) {
  return createStravaClient({
    apiUrl: emulator.apiUrl,
    oauthUrl: emulator.oauthUrl,
    clientId: emulator.clientId,
    clientSecret: emulator.clientSecret,
    timeoutMs: 5_000,
    now: () => emulator.now(),
    ...overrides,
  });
}

export const newKey = () => randomBytes(32);

/** Child processes print token fingerprints, never tokens. */
export const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16);

/** Requests the emulator counted for an endpoint, all statuses (or one). */
export function countOf(counters: { requests: Record<string, Record<string, number>> }, endpoint: string, status?: number): number {
  const byStatus = counters.requests[endpoint] ?? {};
  if (status !== undefined) return byStatus[String(status)] ?? 0;
  return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
}
