/**
 * The control API under /_emulator/: what tests and operators use to shape the emulated Strava (athletes,
 * activities, revocations, faults, clock, limits) and to read what happened (counters, deliveries, ground truth).
 * JSON in and out; errors are {"error": "..."}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { EmulatorContext } from './context.js';
import {
  advanceClockSchema,
  consentSchema,
  createActivitySchema,
  createAthleteSchema,
  rateLimitsPatchSchema,
  rotationBodySchema,
  setClockSchema,
  updateActivitySchema,
} from './control-schemas.js';
import { applyFaultPatch } from './faults.js';
import { readJson, sendEmpty, sendJson } from './http.js';
import { groundTruthSnapshot } from './snapshot.js';
import { EmulatorError } from './store.js';
import { Storm, stormSpecSchema } from './storm.js';

const ATHLETE = /^\/_emulator\/athletes\/(\d+)$/;
const ATHLETE_ACTIVITIES = /^\/_emulator\/athletes\/(\d+)\/activities$/;
const ATHLETE_REVOKE = /^\/_emulator\/athletes\/(\d+)\/revoke$/;
const ATHLETE_TRUTH = /^\/_emulator\/athletes\/(\d+)\/ground-truth$/;
const ATHLETE_CONSENT = /^\/_emulator\/athletes\/(\d+)\/consent$/;
const ACTIVITY = /^\/_emulator\/activities\/(\d+)$/;

export interface ControlHooks {
  reset(): void;
}

const json = (res: ServerResponse, status: number, value: unknown) => sendJson(res, status, JSON.stringify(value));

function readAllParam(url: URL): boolean | undefined {
  const value = url.searchParams.get('read_all');
  return value === null ? undefined : value === 'true' || value === '1';
}

export async function handleControl(ctx: EmulatorContext, hooks: ControlHooks, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    await route(ctx, hooks, req, res, url);
  } catch (error) {
    if (error instanceof EmulatorError) return json(res, error.status, { error: error.message });
    if (error instanceof z.ZodError) return json(res, 400, { error: z.prettifyError(error) });
    if (error instanceof SyntaxError) return json(res, 400, { error: `invalid JSON: ${error.message}` });
    throw error;
  }
}

async function route(ctx: EmulatorContext, hooks: ControlHooks, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { store } = ctx;
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/$/, '');
  let m: RegExpExecArray | null;

  if (path === '/_emulator' && method === 'GET') {
    return json(res, 200, { emulator: 'strava', docs: 'docs/emulator.md', apiUrl: `${ctx.baseUrl}/api/v3`, oauthUrl: `${ctx.baseUrl}/oauth`, athletes: store.athletes.size, activities: store.activities.size, subscription: ctx.webhooks.subscription ?? null });
  }
  if (path === '/_emulator/config' && method === 'GET') {
    return json(res, 200, { clientId: ctx.options.clientId, clientSecret: ctx.options.clientSecret, baseUrl: ctx.baseUrl, apiUrl: `${ctx.baseUrl}/api/v3`, oauthUrl: `${ctx.baseUrl}/oauth`, seed: ctx.options.seed, refreshRotation: ctx.tokens.rotation, webhookRetryDelayMs: ctx.options.webhookRetryDelayMs, webhookMaxAttempts: ctx.options.webhookMaxAttempts });
  }
  if (path === '/_emulator/athletes' && method === 'GET') return json(res, 200, [...store.athletes.values()].map((a) => store.describeAthlete(a)));
  if (path === '/_emulator/athletes' && method === 'POST') {
    const input = createAthleteSchema.parse(await readJson(req));
    const athlete = store.createAthlete(input);
    return json(res, 201, { ...store.describeAthlete(athlete), profile: athlete.profile });
  }
  if ((m = ATHLETE.exec(path)) && method === 'GET') {
    const athlete = store.requireAthlete(Number(m[1]));
    return json(res, 200, { ...store.describeAthlete(athlete), profile: athlete.profile });
  }
  if ((m = ATHLETE_ACTIVITIES.exec(path)) && method === 'POST') {
    const { processingMs, ...fields } = createActivitySchema.parse(await readJson(req));
    const activity = store.createActivity(Number(m[1]), fields, { processingMs });
    return json(res, 201, activity.summary);
  }
  if ((m = ATHLETE_CONSENT.exec(path)) && method === 'PUT') {
    const athlete = store.requireAthlete(Number(m[1]));
    const { grantScope } = consentSchema.parse(await readJson(req));
    athlete.consentScopes = grantScope === null ? undefined : new Set(grantScope.split(',').map((s) => s.trim()).filter(Boolean));
    return json(res, 200, { grantScope: athlete.consentScopes ? [...athlete.consentScopes].join(',') : null });
  }
  if ((m = ATHLETE_REVOKE.exec(path)) && method === 'POST') return json(res, 200, { revoked: store.revokeAthlete(Number(m[1])) });
  if ((m = ATHLETE_TRUTH.exec(path)) && method === 'GET') {
    const athleteId = Number(m[1]);
    const readAll = readAllParam(url) ?? ctx.tokens.grantScopes(athleteId)?.has('activity:read_all') ?? false;
    return json(res, 200, store.groundTruth(athleteId, readAll).map((a) => a.summary));
  }
  if (path === '/_emulator/ground-truth' && method === 'GET') {
    const explicit = readAllParam(url);
    const out: Record<string, unknown[]> = {};
    for (const athlete of store.athletes.values()) {
      const readAll = explicit ?? ctx.tokens.grantScopes(athlete.id)?.has('activity:read_all') ?? false;
      out[athlete.id] = store.groundTruth(athlete.id, readAll).map((a) => a.summary);
    }
    return json(res, 200, out);
  }
  if ((m = ACTIVITY.exec(path))) {
    const id = Number(m[1]);
    if (method === 'GET') {
      const activity = store.requireActivity(id);
      return json(res, 200, { ...activity.summary, _availableAtMs: activity.availableAtMs });
    }
    if (method === 'PATCH') return json(res, 200, store.updateActivity(id, updateActivitySchema.parse(await readJson(req))).summary);
    if (method === 'DELETE') {
      store.deleteActivity(id);
      return sendEmpty(res, 204);
    }
  }
  if (path === '/_emulator/snapshot' && method === 'GET') return json(res, 200, groundTruthSnapshot(ctx));
  if (path === '/_emulator/storm' && method === 'POST') {
    if (ctx.storm?.progress.running) throw new EmulatorError(409, 'a storm is already running');
    const storm = new Storm(store, stormSpecSchema.parse(await readJson(req)), () => ctx.clock.now());
    ctx.storm = storm;
    storm.start();
    return json(res, 201, storm.progress);
  }
  if (path === '/_emulator/storm' && method === 'GET') {
    if (!ctx.storm) throw new EmulatorError(404, 'no storm started');
    return json(res, 200, url.searchParams.get('log') === 'true' ? { ...ctx.storm.progress, log: ctx.storm.log } : ctx.storm.progress);
  }
  if (path === '/_emulator/storm' && method === 'DELETE') {
    ctx.storm?.stop();
    return json(res, 200, ctx.storm?.progress ?? null);
  }
  if (path === '/_emulator/faults' && method === 'GET') return json(res, 200, ctx.faults);
  if (path === '/_emulator/faults' && (method === 'PATCH' || method === 'PUT')) {
    ctx.faults = applyFaultPatch(ctx.faults, await readJson(req), ctx.clock.now());
    return json(res, 200, ctx.faults);
  }
  if (path === '/_emulator/clock' && method === 'GET') return json(res, 200, { now: ctx.clock.now() });
  if (path === '/_emulator/clock' && method === 'PUT') return json(res, 200, { now: ctx.clock.set(setClockSchema.parse(await readJson(req)).epochMs) });
  if (path === '/_emulator/clock/advance' && method === 'POST') return json(res, 200, { now: ctx.clock.advance(advanceClockSchema.parse(await readJson(req)).ms) });
  if (path === '/_emulator/counters' && method === 'GET') return json(res, 200, ctx.counters);
  if (path === '/_emulator/rate-limits' && method === 'GET') return json(res, 200, { limits: ctx.rateLimiter.limits, usage: ctx.rateLimiter.usage(ctx.clock.now()) });
  if (path === '/_emulator/rate-limits' && method === 'PATCH') {
    ctx.rateLimiter.limits = { ...ctx.rateLimiter.limits, ...rateLimitsPatchSchema.parse(await readJson(req)) };
    return json(res, 200, { limits: ctx.rateLimiter.limits, usage: ctx.rateLimiter.usage(ctx.clock.now()) });
  }
  if (path === '/_emulator/refresh-rotation' && method === 'GET') return json(res, 200, { rotation: ctx.tokens.rotation });
  if (path === '/_emulator/refresh-rotation' && method === 'PUT') {
    ctx.tokens.rotation = rotationBodySchema.parse(await readJson(req)).rotation;
    return json(res, 200, { rotation: ctx.tokens.rotation });
  }
  if (path === '/_emulator/subscription' && method === 'GET') return json(res, 200, ctx.webhooks.subscription ?? null);
  if (path === '/_emulator/subscription' && method === 'DELETE') {
    // Strava dropping the subscription on its side (nobody is told; events just stop).
    ctx.webhooks.subscription = undefined;
    return sendEmpty(res, 204);
  }
  if (path === '/_emulator/webhooks' && method === 'GET') return json(res, 200, ctx.webhooks.log);
  if (path === '/_emulator/reset' && method === 'POST') {
    hooks.reset();
    return json(res, 200, { ok: true });
  }
  json(res, 404, { error: `no control endpoint ${method} ${path}` });
}
