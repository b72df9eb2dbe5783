import { z } from 'zod';
import type { Sql } from '../../db/connection.js';
import type { AthleteGateway } from '../../temporal/athlete-gateway.js';
import { TimeoutError, withTimeout } from './timeout.js';

export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });

export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ postgres: z.string(), temporal: z.string() }).meta({ description: '"ok" or why the dependency is not ready' }),
  })
  .meta({ id: 'Readiness' });
export type Readiness = z.infer<typeof readinessSchema>;

const CHECK_TIMEOUT_MS = 2_000;

async function check(fn: () => Promise<unknown>): Promise<string> {
  try {
    await withTimeout(fn(), CHECK_TIMEOUT_MS);
    return 'ok';
  } catch (error) {
    // Only the kind of failure: connection errors can carry the database URL (with its password).
    return error instanceof TimeoutError ? 'timeout' : 'unreachable';
  }
}

/** Both dependencies the API cannot work without, checked in parallel with a short deadline each. */
export async function checkReadiness(sql: Sql, temporal: Pick<AthleteGateway, 'ping'>): Promise<Readiness> {
  const [postgres, temporalCheck] = await Promise.all([
    check(() => sql`select 1`),
    check(() => temporal.ping(CHECK_TIMEOUT_MS)),
  ]);
  return { status: postgres === 'ok' && temporalCheck === 'ok' ? 'ready' : 'not_ready', checks: { postgres, temporal: temporalCheck } };
}
