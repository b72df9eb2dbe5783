import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookAckSchema } from '../../src/api/webhooks/event-schema.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { startApi, type ApiHarness } from '../api/helpers/api-harness.js';
import type { RawResponse } from '../api/helpers/raw-http.js';
import {
  brokenJson,
  deepNesting,
  expectErrorBody,
  hostileJsonValue,
  hostileNumber,
  hostileQuery,
  hostileString,
  malformedPercent,
  megabyteBody,
  oddContentType,
  oddHeaders,
  percentEncode,
  propertyRun,
  checkHostileCase,
  type HostileCase,
} from '../api/helpers/hostile-input.js';

/**
 * Issue 10: generated hostile input against POST and GET /webhooks/strava, over real HTTP, with a real
 * PostgreSQL and Temporal. Every answer is a 4xx JSON error (no row changed) or, for an input that is in fact
 * a well-formed event or handshake, the normal acknowledgement; the process keeps answering.
 */
const db = useTestDatabase();
const VERIFY_TOKEN = 'dev-verify-token';

/** Strava's fields, each either well-formed or hostile (a wrong type, past 2^53, NUL characters, ...). */
const eventLike = fc.record(
  {
    object_type: fc.oneof(fc.constantFrom('activity', 'athlete'), hostileJsonValue),
    object_id: fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), hostileNumber, hostileJsonValue),
    aspect_type: fc.oneof(fc.constantFrom('create', 'update', 'delete'), hostileJsonValue),
    updates: fc.oneof(
      fc.constant({}),
      fc.record({ title: hostileString }),
      fc.dictionary(hostileString, hostileJsonValue, { maxKeys: 4 }),
      hostileJsonValue,
    ),
    owner_id: fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), hostileNumber, hostileJsonValue),
    subscription_id: fc.oneof(fc.integer({ min: 1, max: 2 ** 31 }), hostileNumber),
    event_time: fc.oneof(fc.integer({ min: 0, max: 2 ** 33 }), hostileNumber, hostileJsonValue),
  },
  { requiredKeys: [] },
);

/** A well-formed event's answer: 200 with one of the acknowledgement bodies. */
function acknowledged(response: RawResponse): void {
  expect(response.status).toBe(200);
  expect(webhookAckSchema.safeParse(JSON.parse(response.text)).success).toBe(true);
}
function challengeEchoed(response: RawResponse): void {
  expect(response.status).toBe(200);
  expect(JSON.parse(response.text)).toEqual({ 'hub.challenge': expect.any(String) });
}

const withHeaders = (headers: Record<string, string>, contentType: string | undefined) => (contentType ? { ...headers, 'content-type': contentType } : headers);

const postCase: fc.Arbitrary<HostileCase> = fc.oneof(
  fc.tuple(eventLike, oddContentType, oddHeaders).map(([event, type, headers]) => ({
    name: 'event-shaped body',
    request: { method: 'POST', path: '/webhooks/strava', headers: withHeaders(headers, type), body: JSON.stringify(event) },
    mustRefuse: false,
    success: acknowledged,
  })),
  fc.tuple(hostileJsonValue, oddContentType).map(([value, type]) => ({
    name: 'not an object',
    request: { method: 'POST', path: '/webhooks/strava', headers: withHeaders({}, type), body: JSON.stringify(value) ?? 'undefined' },
    mustRefuse: true,
  })),
  fc.tuple(fc.oneof(deepNesting, brokenJson), oddContentType).map(([body, type]) => ({
    name: 'deep or broken JSON',
    request: { method: 'POST', path: '/webhooks/strava', headers: withHeaders({}, type), body },
    mustRefuse: true,
  })),
  megabyteBody.map((body) => ({ name: '1 MB body', request: { method: 'POST', path: '/webhooks/strava', headers: { 'content-type': 'application/json' }, body }, mustRefuse: true })),
  fc.tuple(malformedPercent, eventLike).map(([segment, event]) => ({
    name: 'malformed path',
    request: { method: 'POST', path: `/webhooks/strava/${segment}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) },
    mustRefuse: true,
  })),
);

const getCase: fc.Arbitrary<HostileCase> = fc.oneof(
  fc.tuple(hostileQuery(['hub.mode', 'hub.challenge', 'hub.verify_token']), oddHeaders).map(([query, headers]) => ({
    name: 'hostile handshake query',
    request: { method: 'GET', path: `/webhooks/strava${query}`, headers },
    // Without the right verify token a handshake can never succeed.
    mustRefuse: !query.includes(`hub.verify_token=${VERIFY_TOKEN}`),
    success: challengeEchoed,
  })),
  fc.tuple(hostileString, fc.constantFrom('subscribe', 'unsubscribe')).map(([challenge, mode]) => ({
    name: 'handshake with a hostile challenge',
    request: { method: 'GET', path: `/webhooks/strava?hub.mode=${mode}&hub.challenge=${percentEncode(challenge)}&hub.verify_token=${VERIFY_TOKEN}` },
    mustRefuse: mode !== 'subscribe' || challenge === '' || challenge.length > 512,
    success: challengeEchoed,
  })),
  malformedPercent.map((segment) => ({ name: 'malformed path', request: { method: 'GET', path: `/webhooks/strava/${segment}` }, mustRefuse: true })),
);

describe('property: hostile input to /webhooks/strava', () => {
  let dev: DevServerHandles;
  let api: ApiHarness;

  beforeAll(async () => {
    dev = await connectDevServer();
    // No relay: a recorded event stays in the inbox, so the only writes are the ones the request itself makes.
    api = await startApi({ db, dev, relay: false });
  });
  afterAll(async () => {
    await api?.stop();
    await dev?.close();
  });

  const check = (testCase: HostileCase) => checkHostileCase(api.url, db.sql, testCase);

  it('POST: refused with a 4xx JSON error and no row changed, or acknowledged when it is a well-formed event', async () => {
    await fc.assert(fc.asyncProperty(postCase, check), propertyRun(150));
  });

  it('GET: refused with a 4xx JSON error, or the handshake answered when it is one', async () => {
    await fc.assert(fc.asyncProperty(getCase, check), propertyRun(100));
  });

  it('the NUL character in updates (the inbox cannot store it) is refused or stored safely, never a 5xx', async () => {
    // Pinned rather than left to chance: issue 10 finding 1 (fixed on the webhook receiver's side).
    for (const updates of [{ title: 'a\u0000b' }, { '\u0000': 'x' }, { note: '\u0000' }]) {
      await check({
        name: 'NUL in updates',
        request: {
          method: 'POST',
          path: '/webhooks/strava',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ object_type: 'activity', object_id: 77, aspect_type: 'update', updates, owner_id: 8_123_456_789, subscription_id: 1, event_time: 1_700_000_000 }),
        },
        mustRefuse: false,
        success: acknowledged,
      });
    }
  });
});
