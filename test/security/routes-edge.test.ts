import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { connectAthlete, startApi, startWorker, type ApiHarness } from '../api/helpers/api-harness.js';

/**
 * Issue 10, finding 7 (HTTP edge): each test replays an input that reached a 500 (or a misleading 503) and
 * checks it is now a 4xx with the usual error body, with no error-level log line.
 */
const db = useTestDatabase();

type ErrorJson = { error: { code: string; message: string } };

describe('finding 7: hostile paths and parameters answer 4xx', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  let athleteId: number;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 10 })]);
    api = await startApi({ db, dev, emulator });
    worker = await startWorker(api, dev, db.sql, emulator);
    athleteId = await connectAthlete(api, emulator, db.sql, 3);
  });
  afterAll(async () => {
    await dev?.client.workflow.getHandle(athleteWorkflowId(athleteId)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const errorLines = () => api.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);

  async function expectClientError(path: string, status: number, code: string, init: RequestInit & { admin?: boolean } = {}): Promise<ErrorJson> {
    const before = errorLines().length;
    const response = await api.fetch(path, init);
    const body = (await response.json()) as ErrorJson;
    expect({ status: response.status, code: body.error?.code }).toEqual({ status, code });
    expect(body).toEqual({ error: { code, message: expect.any(String) } });
    expect(errorLines().slice(before)).toEqual([]);
    return body;
  }

  it.each([
    ['POST', '/webhooks/strava/%E0%A4%A', false],
    ['GET', '/webhooks/strava/%E0%A4%A', false],
    ['GET', '/athletes/%E0%A4%A', true],
    ['GET', '/athletes/%E0%A4%A/activities', true],
    ['GET', '/athletes/1/sync/%FF', true],
    ['POST', '/athletes/%/focus', true],
  ] as const)('%s %s (malformed percent-encoding) -> 400 invalid_request, a warning without stack', async (method, path, admin) => {
    const from = api.logs.length;
    const body = await expectClientError(path, 400, 'invalid_request', { method, admin });
    expect(body.error.message).toMatch(/percent-encoding/);
    const logged = api.logs.slice(from).join('\n');
    expect(logged).not.toMatch(/"stack"|at Layer/);
  });

  it.each([
    ['after', '0000-01-01T00:00:00Z'],
    ['before', '0000-06-01'],
    ['after', '999999999999'],
    ['before', '+275760-09-13T00:00:00Z'],
    ['after', '-000001-01-01T00:00:00Z'],
  ])('activities ?%s=%s (outside what PostgreSQL stores) -> 400', async (name, value) => {
    const body = await expectClientError(`/athletes/${athleteId}/activities?${name}=${encodeURIComponent(value)}`, 400, 'invalid_request', { admin: true });
    expect(body.error.message).toContain(name);
  });

  const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  it.each([
    ['year 0000', ['0000-01-01T00:00:00.000000Z', 1]],
    ['February 30', ['2024-02-30T00:00:00.000000Z', 1]],
    ['an id beyond 2^53', ['2024-01-01T00:00:00.000000Z', 2 ** 60]],
    ['a non-UTC offset', ['2024-01-01T00:00:00+99:00', 1]],
    ['hour 24', ['2024-01-01T24:00:00.000000Z', 1]],
  ])('activities ?cursor= with %s -> 400', async (_name, value) => {
    await expectClientError(`/athletes/${athleteId}/activities?cursor=${cursor(value)}`, 400, 'invalid_request', { admin: true });
  });

  it('the bounds themselves and a well-formed cursor are accepted (positive control)', async () => {
    const bounds = await api.fetch(`/athletes/${athleteId}/activities?after=0001-01-01T00:00:00Z&before=9999-12-31T23:59:59Z`, { admin: true });
    expect(bounds.status).toBe(200);
    const epoch = await api.fetch(`/athletes/${athleteId}/activities?after=0&before=253402300799`, { admin: true });
    expect(epoch.status).toBe(200);
    const page = await api.fetch(`/athletes/${athleteId}/activities?cursor=${cursor(['2024-02-29T23:59:59.999999Z', 2 ** 53 - 1])}`, { admin: true });
    expect(page.status).toBe(200);
    expect(await page.json()).toEqual({ activities: [], nextCursor: null });
  });

  const syncId = (ref: object) => Buffer.from(JSON.stringify(ref)).toString('base64url');
  it.each([
    ['an unknown update id', { u: `sync-now-${randomUUID()}` }],
    ['an unknown update id on a made-up run', { u: `sync-now-${randomUUID()}`, r: randomUUID() }],
    ['a run id that is not a UUID', { u: `sync-now-${randomUUID()}`, r: 'not-a-run' }],
    ['an update id of another shape', { u: 'x'.repeat(200) }],
    ['an empty update id', { u: '' }],
    ['a far-future request time', { u: `sync-now-${randomUUID()}`, t: 8.64e15 }],
  ])('GET /athletes/:id/sync/:syncId with %s -> 404 sync_not_found', async (_name, ref) => {
    await expectClientError(`/athletes/${athleteId}/sync/${syncId(ref)}`, 404, 'sync_not_found', { admin: true });
  });

  it('a forged sync id for an athlete without a workflow -> 404 sync_not_found', async () => {
    const idle = await connectAthlete(api, emulator, db.sql, 0);
    await expectClientError(`/athletes/${idle}/sync/${syncId({ u: `sync-now-${randomUUID()}`, r: randomUUID() })}`, 404, 'sync_not_found', { admin: true });
  });
});
