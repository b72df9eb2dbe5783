/**
 * The local Strava emulator: OAuth (/oauth), API v3 (/api/v3), webhook delivery, rate limits, faults and a
 * control API (/_emulator) on one node:http server. In-memory and seeded: the same seed and the same requests
 * give the same data and the same fault decisions.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleApi, routeName } from './api-routes.js';
import { EmulatorClock } from './clock.js';
import type { EmulatorContext } from './context.js';
import { EmulatorControl } from './control-client.js';
import { handleControl } from './control-routes.js';
import { countRequest, emptyCounters } from './counters.js';
import { FAULTS, NO_FAULTS, applyFaultPatch } from './faults.js';
import { sendJson, sleep } from './http.js';
import { handleOAuth } from './oauth-routes.js';
import { emulatorOptionsSchema, type EmulatorOptions } from './options.js';
import { mulberry32 } from './prng.js';
import { RateLimiter } from './rate-limits.js';
import { EmulatorStore } from './store.js';
import { TokenStore } from './tokens.js';
import { WebhookDispatcher } from './webhooks.js';

export type { EmulatorOptions } from './options.js';
export { EmulatorControl } from './control-client.js';

export interface RunningEmulator {
  baseUrl: string;
  apiUrl: string;
  oauthUrl: string;
  port: number;
  clientId: string;
  clientSecret: string;
  control: EmulatorControl;
  /** The emulator clock, epoch ms. */
  now(): number;
  close(): Promise<void>;
}

export async function startEmulator(input: EmulatorOptions = {}): Promise<RunningEmulator> {
  const options = emulatorOptionsSchema.parse(input);
  const clock = new EmulatorClock(options.startTimeMs);
  const tokens = new TokenStore(options.refreshRotation, options.accessTokenTtlS);
  // Separate seeded streams so that adding a fault does not change the generated data, and vice versa.
  const ctx = {} as EmulatorContext;
  const webhooks = new WebhookDispatcher(
    { timeoutMs: options.webhookTimeoutMs, maxAttempts: options.webhookMaxAttempts, retryDelayMs: options.webhookRetryDelayMs, logLimit: options.webhookLogLimit },
    () => ctx.faults,
    () => ctx.webhookRandom,
    () => ctx.counters,
  );
  const store = new EmulatorStore(options.seed, clock, tokens, webhooks, options.historyYears, options.consentAthleteActivities);
  // The context's replaceable parts, as at start-up (and again after a reset).
  const freshState = () => ({
    rateLimiter: new RateLimiter(options.rateLimits),
    faults: applyFaultPatch(NO_FAULTS, options.faults, clock.now()),
    faultRandom: mulberry32(options.seed ^ 0x5eed_0002),
    webhookRandom: mulberry32(options.seed ^ 0x5eed_0001),
    counters: emptyCounters(),
  });
  Object.assign(ctx, { options, clock, tokens, store, webhooks, baseUrl: '', ...freshState() } satisfies EmulatorContext);

  // Start-up athletes are generated relative to one fixed instant, so a reset regenerates identical data.
  const populateAtMs = clock.now();
  const populate = () => {
    for (let i = 0; i < options.athletes; i++) store.createAthlete({ activities: options.activitiesPerAthlete }, populateAtMs);
  };

  const reset = () => {
    ctx.storm?.stop();
    ctx.storm = undefined;
    webhooks.cancelAll();
    webhooks.subscription = undefined;
    tokens.reset();
    clock.reset();
    store.reset();
    Object.assign(ctx, freshState());
    populate();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    if (path.startsWith('/_emulator/') || path === '/_emulator') return handleControl(ctx, { reset }, req, res, url);
    if (path.startsWith('/oauth/')) {
      if (ctx.faults.apiLatencyMs > 0) await sleep(ctx.faults.apiLatencyMs);
      let endpoint = 'unknown';
      await handleOAuth(ctx, req, res, url, (name) => (endpoint = name));
      countRequest(ctx.counters, endpoint, res.statusCode);
      return;
    }
    if (path.startsWith('/api/v3/')) {
      if (ctx.faults.apiLatencyMs > 0) await sleep(ctx.faults.apiLatencyMs);
      const status = await handleApi(ctx, req, res, url);
      countRequest(ctx.counters, routeName(req.method ?? 'GET', path), status);
      return;
    }
    sendJson(res, 404, FAULTS.routeNotFound);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, JSON.stringify({ message: 'Internal Server Error', errors: [], emulatorError: error instanceof Error ? error.message : String(error) }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const baseUrl = `http://${host}:${port}`;
  ctx.baseUrl = baseUrl;
  populate();

  return {
    baseUrl,
    apiUrl: `${baseUrl}/api/v3`,
    oauthUrl: `${baseUrl}/oauth`,
    port,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    control: new EmulatorControl(baseUrl),
    now: () => clock.now(),
    close: async () => {
      ctx.storm?.stop();
      webhooks.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
