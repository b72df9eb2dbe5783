import fc from 'fast-check';
import { expect } from 'vitest';
import type { Sql } from '../../../src/db/connection.js';
import { rawRequest, type RawRequest, type RawResponse } from './raw-http.js';
import { digestTables } from './table-digest.js';

/**
 * fast-check arbitraries for hostile HTTP input (test/security/property-*.test.ts) and the checks every answer
 * to one must pass. Raw forms: what goes on the wire, percent-encodings included.
 */

/** A fixed seed, printed by fast-check on failure; PROPERTY_SEED replays another run. */
export const PROPERTY_SEED = Number(process.env.PROPERTY_SEED ?? 20_261_130);

/** Percent-encodes the UTF-8 bytes of any string (encodeURIComponent throws on a lone surrogate). */
export function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

const controlChar = fc.integer({ min: 0, max: 31 }).map((code) => String.fromCharCode(code));

/** Strings PostgreSQL or a parser may choke on: NUL and control characters, lone surrogates, long ones. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.oneof(controlChar, fc.constant('\u0000'), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 10 }).map((parts) => parts.join('')),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\udfff', '\u202e', '../../etc/passwd', "'; drop table athletes; --", '${7*7}', '__proto__', 'constructor', ''),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'x'.repeat(n)),
);

/** Numbers at and past every boundary: 2^53, int8, negative, fractional, float extremes. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, -1, 0, -0, 0.5, 1.5, -(2 ** 53), 1e308, Number.MAX_VALUE, Number.MIN_VALUE, 8.64e15, 8.64e15 + 1),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -(2 ** 31), max: 0 }),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }).map(Number),
);

/** Numbers written as text (query strings, path segments): past 2^53, exponents, signs, hex, words. */
export const hostileNumberText: fc.Arbitrary<string> = fc.oneof(
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }).map(String),
  fc.bigInt({ min: -(10n ** 20n), max: 0n }).map(String),
  fc.constantFrom('1e3', '1.5', '0x10', '0b1', 'NaN', 'Infinity', '-0', '+1', '00', '1_000', '9007199254740993', '999999999999', '253402300800'),
);

/** Any JSON value of a wrong type for a field. */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  hostileString,
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(hostileString, hostileNumber), { maxLength: 5 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

/** Raw JSON text nested far deeper than any real body. */
export const deepNesting: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 500, max: 5_000 }), fc.constantFrom('array', 'object'))
  .map(([depth, kind]) => (kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** Roughly a megabyte of JSON (one long string, or many keys). */
export const megabyteBody: fc.Arbitrary<string> = fc.constantFrom(
  JSON.stringify({ object_type: 'activity', padding: 'x'.repeat(1 << 20) }),
  JSON.stringify(Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, i]))),
);

/** Bodies that are not JSON at all, or broken JSON. */
export const brokenJson: fc.Arbitrary<string> = fc.constantFrom('', '{', '{"a":1,}', "{'a':1}", 'null', '"text"', '[1,2', '\u0000', '{"a":"\\u0000"}', 'NaN', '\xff\xfe{');

/** Percent-encodings that do not decode: truncated, non-hex, invalid UTF-8. */
export const malformedPercent: fc.Arbitrary<string> = fc.constantFrom('%', '%E0%A4%A', '%ZZ', '%C3', '%FF%FE', '%%', '%0', '%C0%AF', '%ED%A0%80', 'a%');

/**
 * A path segment that is never a canonical positive athlete id: malformed or well-formed encodings of hostile
 * text, numbers past 2^53, zero and negatives, dot segments. Never empty.
 */
export const hostileIdSegment: fc.Arbitrary<string> = fc.oneof(
  malformedPercent,
  hostileNumberText,
  hostileString.filter((text) => text !== '' && !/^[1-9]\d{0,15}$/.test(text)).map(percentEncode),
  fc.constantFrom('0', '-1', '..', '.', '%2e%2e', '%2F', '%00', '1%00', '%20', '1.0', ' 1'.replace(' ', '%20')),
);

/** A query value on the wire: encoded hostile text, a raw malformed encoding, or a hostile number. */
export const hostileQueryValue: fc.Arbitrary<string> = fc.oneof(
  hostileString.map(percentEncode),
  malformedPercent,
  hostileNumberText,
  fc.constantFrom('0000-01-01T00:00:00Z', '0000-06-01', '+275760-09-13T00:00:00Z', '-000001-01-01', '2024-02-30T00:00:00Z', '2024-13-01', '10000-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z').map(percentEncode),
);

/**
 * A raw query string over the route's own keys plus stray ones: each key absent, hostile, repeated (an array),
 * bracketed (`a[b]=`) or bare.
 */
export function hostileQuery(keys: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(fc.constantFrom(...keys), fc.constantFrom('__proto__', 'constructor', 'a[b]', '%ZZ', ''), hostileString.map(percentEncode));
  const pair = fc.oneof(
    fc.tuple(key, hostileQueryValue).map(([k, v]) => `${k}=${v}`),
    key.map((k) => `${k}[]=1&${k}[]=2`),
    fc.tuple(key, hostileQueryValue, hostileQueryValue).map(([k, a, b]) => `${k}=${a}&${k}=${b}`),
    key,
  );
  return fc.array(pair, { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.join('&')}`);
}

/** Content types a client may wrongly send. */
export const oddContentType: fc.Arbitrary<string | undefined> = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '*/*',
  'application/json, text/plain',
);

/** Headers with valid bytes but odd meaning: forwarded-for garbage, encodings, accept, origin, cookies. */
export const oddHeaders: fc.Arbitrary<Record<string, string>> = fc
  .subarray([
    ['x-forwarded-for', 'not-an-ip, 999.1.1.1, ::ffff:zz'],
    ['content-encoding', 'gzip'],
    ['content-encoding', 'br, deflate, bogus'],
    ['accept', 'text/html'],
    ['accept-encoding', 'identity;q=0, *;q=0'],
    ['origin', 'https://evil.example.net'],
    ['cookie', 'strava_sync_oauth=%E0%A4%A; =; a=b=c; ;;'],
    ['cookie', `strava_sync_oauth=${'x'.repeat(2_000)}`],
    ['x-http-method-override', 'DELETE'],
    ['range', 'bytes=0-1'],
    ['if-none-match', '*'],
    ['authorization', 'Bearer \u00ff\u00fe'],
  ] as [string, string][])
  .map((pairs) => Object.fromEntries(pairs));

/** A client error must be `{ error: { code, message } }` as JSON and nothing else. */
export function expectErrorBody(response: RawResponse): void {
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.text) as unknown;
  expect(body).toEqual({ error: { code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) } });
}

/** One generated request and what the answer may be. */
export interface HostileCase {
  name: string;
  request: RawRequest;
  /** Refused whatever the route's rules (malformed id, bad key, wrong type...): the answer must be a 4xx. */
  mustRefuse: boolean;
  /** For an input that is in fact valid: checks the route's normal success answer (status and body). */
  success?: (response: RawResponse) => void;
}

/**
 * The property every answer must have: below 500; a 4xx is the JSON error body and left every stored row as it
 * was; a success is the route's normal answer; and the process answers the next request.
 */
export async function checkHostileCase(baseUrl: string, sql: Sql, testCase: HostileCase): Promise<void> {
  const before = await digestTables(sql);
  const response = await rawRequest(baseUrl, testCase.request);
  const label = `${testCase.name}: ${testCase.request.method} ${testCase.request.path.slice(0, 160)} -> ${response.status} ${response.text.slice(0, 300)}`;
  expect(response.status, label).toBeLessThan(500);
  if (testCase.mustRefuse) expect(response.status, label).toBeGreaterThanOrEqual(400);
  if (response.status >= 400) {
    expectErrorBody(response);
    expect(await digestTables(sql), `${label}: a refused request changed stored rows`).toEqual(before);
  } else {
    expect(testCase.success, `${label}: succeeded, but no success is defined for this case`).toBeDefined();
    // `If-None-Match: *` on a route that would answer 200: 304 Not Modified is that success, without a body.
    const notModified = response.status === 304 && testCase.request.headers?.['if-none-match'] !== undefined;
    if (!notModified) testCase.success!(response);
  }
  expect((await rawRequest(baseUrl, { method: 'GET', path: '/healthz' })).status, `after ${label}`).toBe(200);
}

/** fast-check's run settings for these suites: the fixed seed (reported on failure), a bounded number of runs. */
export const propertyRun = (numRuns: number) => ({ seed: PROPERTY_SEED, numRuns, endOnFailure: true });
