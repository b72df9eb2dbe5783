/**
 * `strava-sync emulator --port 4500 [--host 127.0.0.1] [--seed N] [--athletes N --activities N]
 *   [--rotation never|always|N] [--retry-delay-ms N]`: runs the local Strava emulator until interrupted.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startEmulator } from '../emulator/index.js';

const argsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(4500),
  host: z.string().default('127.0.0.1'),
  seed: z.coerce.number().int().default(1),
  athletes: z.coerce.number().int().min(0).default(0),
  activities: z.coerce.number().int().min(0).default(0),
  'consent-activities': z.coerce.number().int().min(0).default(0),
  rotation: z
    .string()
    .default('always')
    .transform((text, ctx) => {
      if (text === 'never' || text === 'always') return text;
      const every = Number(text);
      if (Number.isInteger(every) && every > 0) return { every };
      ctx.addIssue({ code: 'custom', message: '--rotation must be never, always or a positive integer N (rotate every Nth refresh)' });
      return z.NEVER;
    }),
  'retry-delay-ms': z.coerce.number().int().min(0).optional(),
  'client-id': z.string().optional(),
  'client-secret': z.string().optional(),
});

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      seed: { type: 'string' },
      athletes: { type: 'string' },
      activities: { type: 'string' },
      'consent-activities': { type: 'string' },
      rotation: { type: 'string' },
      'retry-delay-ms': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
    },
    strict: true,
  });
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) throw new Error(`invalid arguments: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;
  const started = Date.now();
  const emulator = await startEmulator({
    port: opts.port,
    host: opts.host,
    seed: opts.seed,
    athletes: opts.athletes,
    activitiesPerAthlete: opts.activities,
    consentAthleteActivities: opts['consent-activities'],
    refreshRotation: opts.rotation,
    webhookRetryDelayMs: opts['retry-delay-ms'],
    clientId: opts['client-id'] ?? process.env.STRAVA_CLIENT_ID,
    clientSecret: opts['client-secret'] ?? process.env.STRAVA_CLIENT_SECRET,
  });
  console.log(
    `strava emulator listening on ${emulator.baseUrl} (api ${emulator.apiUrl}, oauth ${emulator.oauthUrl}, control ${emulator.baseUrl}/_emulator) ` +
      `client_id=${emulator.clientId} seed=${opts.seed} athletes=${opts.athletes}x${opts.activities} ready in ${Date.now() - started} ms`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await emulator.close();
}
