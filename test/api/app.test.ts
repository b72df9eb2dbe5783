import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApp } from '../../src/api/app.js';
import { createLogger } from '../../src/api/http/logger.js';
import { startServer } from '../../src/api/server.js';
import { createSql } from '../../src/db/connection.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { countByOutcome } from '../../src/db/repositories/webhook-inbox.js';
import { createStravaServices } from '../../src/strava/services.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait-for.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { ADMIN_KEY, startApi, uniqueAthleteId, type ApiHarness } from './helpers/api-harness.js';

const db = useTestDatabase();

describe('cross-cutting behaviour of the app', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;

  beforeAll(async () => {
    dev = await connectDevServer();
    api = await startApi({ db, dev, appOptions: { rateLimits: { oauth: { windowMs: 60_000, limit: 3 } } } });
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  it('GET /healthz and /readyz (PostgreSQL and Temporal up)', async () => {
    expect(await (await api.fetch('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await api.fetch('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });
  });

  it('GET /readyz answers 503 naming the dependency that is down', async () => {
    const deadPort = await freePort();
    const deadSql = createSql(`postgres://postgres@127.0.0.1:${deadPort}/nothing`, { max: 1 });
    const deadTemporal = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${deadPort}` }) });
    const logger = createLogger({ level: 'silent' });
    const both = startServer(createApp({ config: api.config, sql: deadSql, temporal: deadTemporal, strava: api.strava, logger }), { port: 0, host: '127.0.0.1', relay: false });
    const onlyTemporal = startServer(createApp({ config: api.config, sql: db.sql, temporal: deadTemporal, strava: api.strava, logger }), { port: 0, host: '127.0.0.1', relay: false });
    const [a, b] = await Promise.all([both, onlyTemporal]);
    try {
      const [down, half] = await Promise.all([fetch(`${a.url}/readyz`), fetch(`${b.url}/readyz`)]);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'not_ready', checks: { postgres: 'unreachable', temporal: expect.stringMatching(/unreachable|timeout/) } });
      expect(half.status).toBe(503);
      expect(await half.json()).toMatchObject({ checks: { postgres: 'ok' } });
      // A route that needs the database: a plain 500, no stack trace, no connection string.
      const broken = await fetch(`${a.url}/athletes/5`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      expect(broken.status).toBe(500);
      const text = await broken.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'internal_error', message: 'internal server error' } });
      expect(text).not.toMatch(/at |\.ts|postgres:/);
      // A well-formed sync id with Temporal down is a 503, not the 404 a forged or unknown id gets.
      const athleteId = uniqueAthleteId();
      await db.sql.begin((tx) => upsertConnectedAthlete(tx, athleteId, ['activity:read']));
      const syncId = Buffer.from(JSON.stringify({ u: `sync-now-${randomUUID()}`, r: randomUUID() })).toString('base64url');
      const outcome = await fetch(`${b.url}/athletes/${athleteId}/sync/${syncId}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      expect(outcome.status).toBe(503);
      expect(((await outcome.json()) as { error: { code: string } }).error.code).toBe('temporal_unavailable');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await deadSql.end({ timeout: 1 });
      // deadTemporal is left to the garbage collector: closing it while the SDK's retry timer for the refused
      // call is pending makes that timer throw "Channel has been shut down".
    }
  });

  it('GET /openapi.json is a valid OpenAPI 3.1 document covering every route', async () => {
    const response = await api.fetch('/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations).toEqual(
      expect.arrayContaining([
        'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json',
        'GET /webhooks/strava', 'POST /webhooks/strava', 'GET /auth/strava', 'GET /auth/strava/callback',
        'GET /athletes/{id}', 'DELETE /athletes/{id}', 'GET /athletes/{id}/activities', 'POST /athletes/{id}/focus',
        'POST /athletes/{id}/sync', 'GET /athletes/{id}/sync/{syncId}', 'GET /athletes/{id}/events',
        'GET /admin', 'GET /admin/athletes', 'GET /admin/overview', 'POST /admin/sync', 'GET /admin/sync/{batchId}',
      ]),
    );
    const activities = document.paths['/athletes/{id}/activities']!.get as { parameters: { name: string; in: string }[] };
    expect(activities.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['path:id', 'query:limit', 'query:cursor', 'query:after', 'query:before']),
    );
  });

  it('GET /metrics: default, HTTP, webhook and rate governor metrics', async () => {
    await api.fetch('/healthz');
    const response = await api.fetch('/metrics', { admin: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/strava_sync_api_process_cpu_user_seconds_total/);
    expect(text).toMatch(/strava_sync_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toMatch(/strava_sync_http_request_duration_seconds_bucket/);
    expect(text).toMatch(/strava_webhook_events_received_total/);
    expect(text).toMatch(/strava_rate_window_limit 100/);
    expect(text).toMatch(/strava_rate_day_limit 1000/);
  });

  it('GET /metrics: the relay backlog (pending inbox rows and the age of the oldest) for alerting', async () => {
    const athleteId = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, athleteId, ['read', 'activity:read_all']);
    // This harness runs without the relay, so the event stays pending.
    const posted = await api.fetch('/webhooks/strava', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ object_type: 'activity', object_id: 4242, aspect_type: 'create', updates: {}, owner_id: athleteId, subscription_id: 1, event_time: 1_700_000_000 }),
    });
    expect(posted.status).toBe(200);
    // The oldest row's age grows with every scrape: wait until it is a second old.
    const text = await waitFor(
      async () => (await api.fetch('/metrics', { admin: true })).text(),
      (body) => Number(/^strava_webhook_inbox_oldest_pending_seconds ([\d.]+)$/m.exec(body)?.[1]) >= 1,
      { timeoutMs: 5_000, intervalMs: 200, what: 'the oldest pending row to be a second old' },
    );
    const pending = Number(/^strava_webhook_inbox_pending (\d+)$/m.exec(text)?.[1]);
    const oldest = Number(/^strava_webhook_inbox_oldest_pending_seconds ([\d.]+)$/m.exec(text)?.[1]);
    expect(pending).toBe((await countByOutcome(db.sql)).pending);
    expect(pending).toBeGreaterThanOrEqual(1);
    expect(oldest).toBeGreaterThanOrEqual(1);
  });

  it('GET /metrics: only for the admin key or METRICS_TOKEN (its counters would tell an outsider which forged events were ignored)', async () => {
    const anonymous = await api.fetch('/metrics');
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await api.fetch('/metrics', { headers: { authorization: 'Bearer not-the-key-at-all' } })).status).toBe(401);

    const token = 'metrics-token-for-prometheus';
    const withToken = await startApi({ db, dev, env: { METRICS_TOKEN: token } });
    try {
      const scraped = await withToken.fetch('/metrics', { headers: { authorization: `Bearer ${token}` } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/strava_webhook_events_received_total/);
      expect((await withToken.fetch('/metrics', { admin: true })).status).toBe(200);
      expect((await withToken.fetch('/metrics')).status).toBe(401);
    } finally {
      await withToken.stop();
    }
  });

  it('errors are JSON without stack traces; unknown routes 404; security headers set', async () => {
    const missing = await api.fetch('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /nope' } });
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    expect(missing.headers.get('x-powered-by')).toBeNull();
    expect(missing.headers.get('strict-transport-security')).toMatch(/max-age/);
    expect(missing.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
  });

  it('bodies: malformed JSON -> 400, over the limit -> 413, both as JSON errors', async () => {
    const headers = { 'content-type': 'application/json' };
    const malformed = await api.fetch('/admin/sync', { method: 'POST', admin: true, headers, body: '{"athleteIds": [1,' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: { code: 'invalid_json', message: expect.any(String) } });
    const huge = await api.fetch('/admin/sync', { method: 'POST', admin: true, headers, body: JSON.stringify({ athleteIds: Array(200_000).fill(1) }) });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const wrongShape = await api.fetch('/admin/sync', { method: 'POST', admin: true, headers, body: JSON.stringify({ athleteIds: ['x'], extra: 1 }) });
    expect(wrongShape.status).toBe(400);
    expect(((await wrongShape.json()) as { error: { code: string; message: string } }).error.message).toMatch(/athleteIds/);
  });

  it('rate limits the OAuth routes per address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await api.fetch('/auth/strava')).status);
    expect(statuses).toEqual([302, 302, 302, 429, 429]);
    const limited = await api.fetch('/auth/strava/callback?state=x');
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('OAuth') } });
    // Other routes are not affected.
    expect((await api.fetch('/healthz')).status).toBe(200);
  });

  it('logs are structured JSON lines without secrets', async () => {
    await api.fetch('/athletes/1', { admin: true });
    const lines = api.logs.join('').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; path?: string; status?: number });
    expect(lines.some((line) => line.msg === 'request' && line.path === '/athletes/1' && line.status === 404)).toBe(true);
    const text = api.logs.join('');
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(api.config.OAUTH_STATE_SECRET);
  });
});

describe('graceful shutdown', () => {
  let dev: DevServerHandles;
  beforeAll(async () => {
    dev = await connectDevServer();
  });
  afterAll(async () => dev?.close());

  it('finishes in-flight requests, ends SSE streams, refuses new connections', async () => {
    // No worker on this task queue: a sync-now request runs for the whole SYNC_NOW_WAIT, then answers 202.
    const api = await startApi({ db, dev, env: { SYNC_NOW_WAIT: '1500ms' } });
    const athleteId = uniqueAthleteId();
    await upsertConnectedAthlete(db.sql, athleteId, ['read', 'activity:read_all']);
    try {
      const events = await api.fetch(`/athletes/${athleteId}/events`, { admin: true });
      expect(events.status).toBe(200);
      const inFlight = api.fetch(`/athletes/${athleteId}/sync`, { method: 'POST', admin: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stopping = api.server.stop(10_000);
      const streamText = events.text();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Refused, not any error (a bad URL would throw too): nothing listens any more.
      await expect(fetch(`${api.url}/healthz`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
      const response = await inFlight;
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ status: 'pending' });
      expect(await streamText).toMatch(/event: shutdown/);
      await stopping;
      expect(api.server.server.listening).toBe(false);
    } finally {
      await api.stop();
      await dev.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done').catch(() => {});
    }
  });
});
