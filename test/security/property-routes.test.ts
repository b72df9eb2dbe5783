import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, connectAthlete, startApi, type ApiHarness } from '../api/helpers/api-harness.js';
import type { RawResponse } from '../api/helpers/raw-http.js';
import {
  brokenJson,
  checkHostileCase,
  deepNesting,
  hostileIdSegment,
  hostileJsonValue,
  hostileNumber,
  hostileQuery,
  hostileQueryValue,
  hostileString,
  malformedPercent,
  megabyteBody,
  oddContentType,
  oddHeaders,
  percentEncode,
  propertyRun,
  type HostileCase,
} from '../api/helpers/hostile-input.js';

/**
 * Issue 10: generated hostile input against every route but the webhook (property-webhooks.test.ts): path ids,
 * query parameters, bodies, content types, headers and keys. Over real HTTP, a real PostgreSQL and Temporal,
 * the emulator standing in for Strava. Each answer is a 4xx JSON error with no stored row changed, or the
 * route's normal success where the input is in fact valid; the process keeps answering.
 */
const db = useTestDatabase();

const BEARER = `Bearer ${ADMIN_KEY}`;
/** Mostly the right key (so the input reaches the route's own parsing), sometimes a hostile one. */
const authorization = fc.oneof(
  { weight: 8, arbitrary: fc.constant(BEARER) },
  { weight: 1, arbitrary: fc.constantFrom('', 'Bearer', `Bearer ${ADMIN_KEY}x`, `Basic ${ADMIN_KEY}`, `bearer  ${ADMIN_KEY} extra`, 'Bearer \u00ff', `Bearer ${'k'.repeat(4_000)}`) },
);

const jsonOk = (check: (body: unknown) => void) => (response: RawResponse) => {
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  check(JSON.parse(response.text));
};

/** Ids that name no connected athlete (well-formed but unknown, or malformed). */
const notAnAthlete = fc.oneof(hostileIdSegment, fc.integer({ min: 1, max: 1_000_000 }).map(String));

/** A body of any kind: hostile JSON, deep, broken, a megabyte, with any content type. */
const anyBody = fc.tuple(
  fc.oneof(hostileJsonValue.map((value) => JSON.stringify(value) ?? ''), deepNesting, brokenJson, megabyteBody, fc.constant(undefined)),
  oddContentType,
);

function withBody(headers: Record<string, string>, [body, type]: [string | undefined, string | undefined]) {
  return { headers: type ? { ...headers, 'content-type': type } : headers, ...(body !== undefined ? { body } : {}) };
}

describe('property: hostile input to every route', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let athleteId: number;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 12 })]);
    // Rate limits out of the way: every generated request must reach the route.
    api = await startApi({ db, dev, emulator, appOptions: { rateLimits: { oauth: { windowMs: 60_000, limit: 1_000_000 }, webhooks: { windowMs: 10_000, limit: 1_000_000 } } } });
    // A connected athlete without a workflow: its read routes answer from the database.
    athleteId = await connectAthlete(api, emulator, db.sql, 0);
  });
  afterAll(async () => {
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  const check = (testCase: HostileCase) => checkHostileCase(api.url, db.sql, testCase);

  it('/athletes/:id/* with ids that name no connected athlete: always a 4xx', async () => {
    const route = fc.constantFrom(
      ['GET', ''],
      ['GET', '/activities'],
      ['POST', '/focus'],
      ['POST', '/sync'],
      ['DELETE', ''],
      ['GET', '/events'],
      ['GET', '/sync/abc'],
      ['POST', '/client-tokens'],
      ['POST', '/resync'],
    ) as fc.Arbitrary<[string, string]>;
    const cases = fc.tuple(route, notAnAthlete, fc.option(hostileQuery(['limit', 'cursor', 'after', 'before', 'include'])), authorization, oddHeaders, anyBody).map(
      ([[method, rest], id, query, auth, headers, body]): HostileCase => ({
        name: 'athlete route, unknown id',
        request: { method, path: `/athletes/${id}${rest}${query ?? ''}`, ...withBody({ ...headers, authorization: auth }, body) },
        mustRefuse: true,
      }),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(120));
  });

  it("a connected athlete's read routes with hostile queries, cursors and sync ids: 4xx, or the normal answer", async () => {
    const forgedSyncId = fc
      .record({ u: fc.oneof(hostileJsonValue, fc.uuid().map((id) => `sync-now-${id}`)), r: fc.oneof(hostileJsonValue, fc.uuid()), t: fc.oneof(hostileNumber, hostileJsonValue) }, { requiredKeys: [] })
      .map((ref) => Buffer.from(JSON.stringify(ref)).toString('base64url'));
    const forgedCursor = fc
      .tuple(fc.oneof(hostileString, fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), fc.oneof(hostileNumber, hostileJsonValue))
      .map((pair) => Buffer.from(JSON.stringify(pair)).toString('base64url'));
    const cases = fc.oneof(
      fc.tuple(hostileQuery(['limit', 'cursor', 'after', 'before', 'include']), authorization, oddHeaders).map(([query, auth, headers]): HostileCase => ({
        name: 'activities with a hostile query',
        request: { method: 'GET', path: `/athletes/${athleteId}/activities${query}`, headers: { ...headers, authorization: auth } },
        mustRefuse: auth !== BEARER,
        success: jsonOk((body) => expect(body).toEqual({ activities: [], nextCursor: null })),
      })),
      fc.tuple(forgedCursor, fc.constantFrom('cursor', 'after', 'before')).map(([value, key]): HostileCase => ({
        name: `activities with a forged ${key}`,
        request: { method: 'GET', path: `/athletes/${athleteId}/activities?${key}=${value}`, headers: { authorization: BEARER } },
        // A base64url text is never an instant; as a cursor it may decode to a well-formed position.
        mustRefuse: key !== 'cursor',
        success: jsonOk((body) => expect(body).toEqual({ activities: [], nextCursor: null })),
      })),
      fc.tuple(fc.oneof(forgedSyncId, hostileIdSegment, malformedPercent)).map(([syncId]): HostileCase => ({
        name: 'sync outcome with a forged id',
        request: { method: 'GET', path: `/athletes/${athleteId}/sync/${syncId}`, headers: { authorization: BEARER } },
        mustRefuse: true,
      })),
      fc.tuple(hostileQuery(['include', 'state']), oddHeaders).map(([query, headers]): HostileCase => ({
        name: 'status with a hostile query',
        request: { method: 'GET', path: `/athletes/${athleteId}${query}`, headers: { ...headers, authorization: BEARER } },
        mustRefuse: false,
        success: jsonOk((body) => expect(body).toMatchObject({ athleteId, source: 'database' })),
      })),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(120));
  });

  it('client tokens and range re-sync: forged bearer tokens on every client route are a 401; hostile mint and resync bodies a 4xx, or their normal answer', async () => {
    const segment = fc.oneof(
      hostileString.map((text) => Buffer.from(text).toString('base64url')),
      hostileJsonValue.map((value) => Buffer.from(JSON.stringify(value) ?? '').toString('base64url')),
      fc.constantFrom('', 'eyJhbGciOiJub25lIn0', 'eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ', 'eyJhbGciOiJIUzI1NiJ9'),
    );
    const forged = fc.tuple(segment, segment, segment).map((parts) => parts.join('.'));
    const clientRoute = fc.constantFrom(['GET', ''], ['GET', '/activities'], ['POST', '/focus'], ['POST', '/sync'], ['GET', '/sync/abc'], ['GET', '/events'], ['POST', '/resync']) as fc.Arbitrary<[string, string]>;
    const mintBody = fc.oneof(
      fc.record({ abilities: fc.oneof(fc.array(fc.oneof(fc.constantFrom('read', 'focus', 'sync', 'events'), hostileString), { maxLength: 10 }), hostileJsonValue), ttlSeconds: fc.oneof(hostileNumber, hostileJsonValue) }, { requiredKeys: [] }).map((body) => JSON.stringify(body)),
      deepNesting,
      brokenJson,
    );
    const cases = fc.oneof(
      fc.tuple(clientRoute, forged, fc.boolean()).map(([[method, rest], token, inQuery]): HostileCase => ({
        name: 'a forged client token',
        request: inQuery
          ? { method, path: `/athletes/${athleteId}${rest}?access_token=${percentEncode(token)}` }
          : { method, path: `/athletes/${athleteId}${rest}`, headers: { authorization: `Bearer ${token}` } },
        mustRefuse: true,
      })),
      fc.tuple(
        fc.oneof(
          fc.record({ after: fc.oneof(hostileJsonValue, hostileNumber, hostileString), before: fc.oneof(hostileJsonValue, hostileNumber, hostileString) }, { requiredKeys: [] }).map((body) => JSON.stringify(body)),
          deepNesting,
          brokenJson,
        ),
        authorization,
      ).map(([body, auth]): HostileCase => ({
        name: 'POST resync with a hostile body',
        request: { method: 'POST', path: `/athletes/${athleteId}/resync`, headers: { authorization: auth, 'content-type': 'application/json' }, body },
        mustRefuse: auth !== BEARER,
        success: (response) => {
          expect(response.status).toBe(202);
          expect(JSON.parse(response.text)).toMatchObject({ athleteId, status: 'accepted', resyncId: expect.any(String) });
        },
      })),
      fc.tuple(mintBody, authorization).map(([body, auth]): HostileCase => ({
        name: 'POST client-tokens with a hostile body',
        request: { method: 'POST', path: `/athletes/${athleteId}/client-tokens`, headers: { authorization: auth, 'content-type': 'application/json' }, body },
        mustRefuse: auth !== BEARER,
        success: (response) => {
          expect(response.status).toBe(201);
          expect(JSON.parse(response.text)).toMatchObject({ token: expect.any(String), athleteId, expiresAt: expect.any(String) });
        },
      })),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(120));
  });

  it('/admin/*: hostile queries and bodies are a 4xx; the read routes otherwise answer normally', async () => {
    const athleteIds = fc.oneof(
      fc.array(fc.oneof(hostileNumber, hostileJsonValue), { minLength: 1, maxLength: 5 }),
      fc.constant(Array.from({ length: 10_001 }, (_, i) => i + 1)),
      hostileJsonValue,
    );
    const syncBody = fc.oneof(
      fc.tuple(athleteIds, fc.option(fc.dictionary(hostileString, hostileJsonValue, { minKeys: 1, maxKeys: 2 }))).map(([ids, extra]) => JSON.stringify({ ...extra, athleteIds: ids })),
      deepNesting,
      brokenJson,
      megabyteBody,
    );
    const cases = fc.oneof(
      fc.tuple(syncBody, authorization).map(([body, auth]): HostileCase => ({
        name: 'POST /admin/sync, JSON body',
        request: { method: 'POST', path: '/admin/sync', headers: { authorization: auth, 'content-type': 'application/json' }, body },
        // A list of positive ids within 2^53 is valid (ids that are not connected are skipped, none is ours).
        mustRefuse: auth !== BEARER,
        success: (response) => {
          expect(response.status).toBe(202);
          // None of the listed ids is connected: every one is skipped and the batch is done at once.
          expect(JSON.parse(response.text)).toMatchObject({ done: true, started: 0, failed: { total: 0 } });
        },
      })),
      fc.tuple(fc.constant(JSON.stringify({ athleteIds: [athleteId] })), oddContentType.filter((type) => type === undefined || !/^application\/json(;|$)/.test(type))).map(([body, type]): HostileCase => ({
        name: 'POST /admin/sync, a body in another content type',
        request: { method: 'POST', path: '/admin/sync', headers: { authorization: BEARER, ...(type ? { 'content-type': type } : {}) }, body },
        mustRefuse: true,
      })),
      fc.tuple(hostileQuery(['state']), authorization, oddHeaders).map(([query, auth, headers]): HostileCase => ({
        name: 'GET /admin/athletes',
        request: { method: 'GET', path: `/admin/athletes${query}`, headers: { ...headers, authorization: auth } },
        mustRefuse: auth !== BEARER,
        success: jsonOk((body) => expect(body).toEqual({ athletes: expect.any(Array) })),
      })),
      fc.tuple(hostileQuery(['limit']), authorization).map(([query, auth]): HostileCase => ({
        name: 'GET /admin/overview',
        request: { method: 'GET', path: `/admin/overview${query}`, headers: { authorization: auth } },
        mustRefuse: auth !== BEARER,
        success: jsonOk((body) => expect(body).toMatchObject({ athletesByState: expect.any(Object) })),
      })),
      fc.tuple(
        fc.oneof(hostileQueryValue.filter((v) => v !== 'true' && v !== 'false').map((v) => `replace=${v}`), fc.constantFrom('replace[]=true', 'replace=true&replace=false', 'replace=TRUE', 'replace=1', 'replace=')),
        anyBody,
      ).map(([query, body]): HostileCase => ({
        name: 'POST /admin/subscription with a hostile replace',
        request: { method: 'POST', path: `/admin/subscription?${query}`, ...withBody({ authorization: BEARER }, body) },
        mustRefuse: true,
      })),
      fc.tuple(fc.constantFrom('GET', 'POST', 'DELETE'), authorization.filter((auth) => auth !== BEARER)).map(([method, auth]): HostileCase => ({
        name: '/admin/subscription without the key',
        request: { method, path: '/admin/subscription?replace=true', headers: { authorization: auth } },
        mustRefuse: true,
      })),
      fc.tuple(fc.oneof(malformedPercent, hostileIdSegment), authorization).map(([segment, auth]): HostileCase => ({
        name: 'an unknown admin path',
        request: { method: 'GET', path: `/admin/${segment}`, headers: { authorization: auth } },
        mustRefuse: true,
      })),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(120));
  });

  it('/auth/strava and its callback: a forged callback is always a 4xx; the connect redirect only to Strava', async () => {
    const cookie = fc.oneof(fc.constant(undefined), hostileString.map((text) => `strava_sync_oauth=${percentEncode(text).slice(0, 3_000)}`), fc.constantFrom('strava_sync_oauth=%E0%A4%A', 'strava_sync_oauth="x', '=;=;', 'a'));
    const cases = fc.oneof(
      fc.tuple(hostileQuery(['state', 'code', 'scope', 'error']), cookie, oddHeaders).map(([query, cookieHeader, headers]): HostileCase => ({
        name: 'forged callback',
        request: { method: 'GET', path: `/auth/strava/callback${query}`, headers: { ...headers, ...(cookieHeader ? { cookie: cookieHeader } : {}) } },
        mustRefuse: true,
      })),
      fc.tuple(hostileQuery(['return_to']), oddHeaders).map(([query, headers]): HostileCase => ({
        name: 'connect with a hostile return_to',
        request: { method: 'GET', path: `/auth/strava${query}`, headers },
        mustRefuse: false,
        success: (response) => {
          expect(response.status).toBe(302);
          expect(new URL(String(response.headers.location)).origin).toBe(new URL(emulator.oauthUrl).origin);
        },
      })),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(100));
  });

  it('public routes and unknown paths: odd queries and headers change nothing', async () => {
    const cases = fc.oneof(
      fc.tuple(fc.constantFrom('/healthz', '/readyz', '/metrics', '/openapi.json', '/admin'), hostileQuery(['a']), oddHeaders).map(([path, query, headers]): HostileCase => ({
        name: 'public route',
        request: { method: 'GET', path: `${path}${query}`, headers },
        mustRefuse: false,
        success: (response) => expect(response.status).toBe(200),
      })),
      fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), fc.oneof(malformedPercent, hostileIdSegment), anyBody).map(([method, segment, body]): HostileCase => ({
        name: 'unknown path',
        request: { method, path: `/${segment}/${segment}`, ...withBody({}, body) },
        mustRefuse: true,
      })),
    );
    await fc.assert(fc.asyncProperty(cases, check), propertyRun(80));
  });
});
