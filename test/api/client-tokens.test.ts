import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ROUTES } from '../../src/api/auth/athlete-access.js';
import { CLIENT_ABILITIES, type ClientAbility } from '../../src/api/auth/client-token-schemas.js';
import { createClientTokens } from '../../src/api/auth/client-tokens.js';
import { keyId } from '../../src/config.js';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { ADMIN_KEY, connectAthlete, startApi, startWorker, type ApiHarness } from './helpers/api-harness.js';

/**
 * Issue 13: per-athlete client tokens. Every athlete route is in ROUTES below (checked against the OpenAPI
 * document), and each is called with the admin key, a token of its athlete with the route's ability, a token
 * without it, another athlete's token, an expired one and none, over real HTTP, PostgreSQL, Temporal and the
 * emulator.
 */
const db = useTestDatabase();

interface RouteCase {
  method: 'GET' | 'POST' | 'DELETE';
  /** With {id} for the athlete id. */
  path: string;
  /** null: admin key only. */
  ability: ClientAbility | null;
  body?: object;
  /** A server-sent event stream: only the status is read, then the request is aborted. */
  stream?: boolean;
}

const FORGED_SYNC_ID = Buffer.from(JSON.stringify({ u: 'sync-now-00000000-0000-4000-8000-000000000000', t: 0 })).toString('base64url');

const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/athletes/{id}', ability: 'read' },
  { method: 'GET', path: '/athletes/{id}/activities', ability: 'read' },
  { method: 'POST', path: '/athletes/{id}/focus', ability: 'focus' },
  { method: 'POST', path: '/athletes/{id}/sync', ability: 'sync' },
  { method: 'GET', path: `/athletes/{id}/sync/${FORGED_SYNC_ID}`, ability: 'sync' },
  { method: 'GET', path: '/athletes/{id}/events', ability: 'events', stream: true },
  // A window with nothing stored: well within any budget (the route's own tests: test/api/resync.test.ts).
  { method: 'POST', path: '/athletes/{id}/resync', ability: 'sync', body: { after: '2001-01-01T00:00:00Z', before: '2001-01-02T00:00:00Z' } },
  { method: 'DELETE', path: '/athletes/{id}', ability: null },
  // The operator's controls: a client token may not pause or resume auto sync.
  { method: 'POST', path: '/athletes/{id}/pause', ability: null },
  { method: 'POST', path: '/athletes/{id}/resume', ability: null },
  { method: 'POST', path: '/athletes/{id}/client-tokens', ability: null, body: { abilities: ['read'] } },
];

describe('client tokens', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  let athlete: number;
  let other: number;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 13 })]);
    api = await startApi({ db, dev, emulator, appOptions: { sseHeartbeatMs: 200 } });
    worker = await startWorker(api, dev, db.sql, emulator);
    athlete = await connectAthlete(api, emulator, db.sql, 2);
    other = await connectAthlete(api, emulator, db.sql, 1);
  });
  afterEach(() => {
    api.clock.offsetMs = 0;
  });
  afterAll(async () => {
    for (const id of [athlete, other]) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  async function mint(id: number, abilities: readonly ClientAbility[], ttlSeconds?: number): Promise<string> {
    const response = await api.fetch(`/athletes/${id}/client-tokens`, {
      method: 'POST',
      admin: true,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ abilities, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { token: string }).token;
  }

  /** Calls a route with the given Authorization (or none), returning the status and error body, if any. */
  async function call(route: RouteCase, id: number, authorization?: string, query = ''): Promise<{ status: number; code?: string; wwwAuthenticate: string | null }> {
    const abort = new AbortController();
    const response = await api.fetch(`${route.path.replace('{id}', String(id))}${query}`, {
      method: route.method,
      headers: { ...(authorization ? { authorization } : {}), ...(route.body ? { 'content-type': 'application/json' } : {}) },
      ...(route.body ? { body: JSON.stringify(route.body) } : {}),
      signal: abort.signal,
    });
    const wwwAuthenticate = response.headers.get('www-authenticate');
    if (route.stream && response.status === 200) {
      abort.abort();
      return { status: 200, wwwAuthenticate };
    }
    const text = await response.text();
    const code = text.startsWith('{') ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined;
    return { status: response.status, ...(code ? { code } : {}), wwwAuthenticate };
  }

  const allowed = (result: { status: number }) => result.status !== 401 && result.status !== 403;

  it('the route table covers every /athletes route of the OpenAPI document, and athlete-access lists exactly the client ones', async () => {
    const document = (await (await api.fetch('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/athletes/'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const tested = ROUTES.map((r) => `${r.method} ${r.path.replace(FORGED_SYNC_ID, '{syncId}')}`);
    expect([...new Set(tested)].sort()).toEqual(documented);
    // Every route the table lets a client use is a route athlete-access lets a client use, with that ability.
    for (const route of ROUTES.filter((r) => r.ability !== null)) {
      const below = route.path.replace('/athletes', '').replace('{id}', '1');
      expect(CLIENT_ROUTES.find((r) => r.method === route.method && r.path.test(below))?.ability, `${route.method} ${route.path}`).toBe(route.ability);
    }
  });

  describe.each(ROUTES.filter((r) => r.ability !== null))('$method $path', (route) => {
    const ability = route.ability!;

    it('the admin key and a token of this athlete with the ability pass', async () => {
      expect(allowed(await call(route, athlete, `Bearer ${ADMIN_KEY}`))).toBe(true);
      const result = await call(route, athlete, `Bearer ${await mint(athlete, [ability])}`);
      expect(result, JSON.stringify(result)).toSatisfy(allowed);
    });

    it('a token without the ability -> 403 forbidden', async () => {
      const others = CLIENT_ABILITIES.filter((a) => a !== ability);
      const result = await call(route, athlete, `Bearer ${await mint(athlete, others)}`);
      expect(result).toEqual({ status: 403, code: 'forbidden', wwwAuthenticate: 'Bearer error="insufficient_scope"' });
    });

    it("another athlete's token, whatever its abilities -> 403 forbidden", async () => {
      const result = await call(route, athlete, `Bearer ${await mint(other, CLIENT_ABILITIES)}`);
      expect(result).toEqual({ status: 403, code: 'forbidden', wwwAuthenticate: 'Bearer error="insufficient_scope"' });
    });

    it('an expired token -> 401; the same token before its expiry passes', async () => {
      const token = await mint(athlete, [ability], 60);
      api.clock.offsetMs = 50_000; // well before: the expiry is counted in whole seconds from the mint
      expect(await call(route, athlete, `Bearer ${token}`)).toSatisfy(allowed);
      api.clock.offsetMs = 70_000;
      expect(await call(route, athlete, `Bearer ${token}`)).toEqual({ status: 401, code: 'unauthorized', wwwAuthenticate: 'Bearer error="invalid_token"' });
    });

    it('no credentials -> 401', async () => {
      expect(await call(route, athlete)).toEqual({ status: 401, code: 'unauthorized', wwwAuthenticate: 'Bearer' });
    });
  });

  describe.each(ROUTES.filter((r) => r.ability === null))('$method $path (admin key only)', (route) => {
    it('a token of this athlete with every ability -> 403, and nothing changes', async () => {
      const result = await call(route, athlete, `Bearer ${await mint(athlete, CLIENT_ABILITIES)}`);
      expect(result).toEqual({ status: 403, code: 'forbidden', wwwAuthenticate: 'Bearer error="insufficient_scope"' });
      expect((await getAthlete(db.sql, athlete))?.state).not.toBe('revoked');
    });
  });

  describe('tampered and foreign tokens -> 401 on every client route', () => {
    const forgeries: [string, () => Promise<string>][] = [
      ['payload changed (another athlete), signature kept', async () => {
        const [header, , signature] = (await mint(other, CLIENT_ABILITIES)).split('.');
        const payload = { ...decodeJwt(await mint(other, CLIENT_ABILITIES)), sub: String(athlete) };
        return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
      }],
      ['ability added to the payload, signature kept', async () => {
        const [header, payload, signature] = (await mint(athlete, ['read'])).split('.');
        const claims = { ...JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')), scope: CLIENT_ABILITIES.join(' ') };
        return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      }],
      ['signature altered', async () => {
        const token = await mint(athlete, CLIENT_ABILITIES);
        const last = token.at(-2) === 'A' ? 'B' : 'A';
        return `${token.slice(0, -2)}${last}${token.at(-1)}`;
      }],
      ['alg none (unsecured JWT) with our claims', async () => {
        const claims = decodeJwt(await mint(athlete, CLIENT_ABILITIES));
        return new UnsecuredJWT(claims).encode();
      }],
      ['signed with another key under our kid', async () => {
        const claims = decodeJwt(await mint(athlete, CLIENT_ABILITIES));
        return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keyId(api.config.CLIENT_TOKEN_KEYS[0]!) }).sign(randomBytes(32));
      }],
      ['our key, another algorithm (HS512)', async () => {
        const claims = decodeJwt(await mint(athlete, CLIENT_ABILITIES));
        return new SignJWT(claims).setProtectedHeader({ alg: 'HS512', typ: 'JWT', kid: keyId(api.config.CLIENT_TOKEN_KEYS[0]!) }).sign(api.config.CLIENT_TOKEN_KEYS[0]!);
      }],
      ['our key, an unknown ability', async () => {
        const claims = { ...decodeJwt(await mint(athlete, CLIENT_ABILITIES)), scope: 'read admin' };
        return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keyId(api.config.CLIENT_TOKEN_KEYS[0]!) }).sign(api.config.CLIENT_TOKEN_KEYS[0]!);
      }],
      ['our key, another audience', async () => {
        const claims = { ...decodeJwt(await mint(athlete, CLIENT_ABILITIES)), aud: 'someone-else' };
        return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: keyId(api.config.CLIENT_TOKEN_KEYS[0]!) }).sign(api.config.CLIENT_TOKEN_KEYS[0]!);
      }],
      ['not a JWT at all', async () => 'abc.def.ghi'],
    ];
    it.each(forgeries)('%s', async (_name, forge) => {
      const token = await forge();
      for (const route of ROUTES.filter((r) => r.ability !== null)) {
        const result = await call(route, athlete, `Bearer ${token}`);
        expect(result, `${route.method} ${route.path}`).toEqual({ status: 401, code: 'unauthorized', wwwAuthenticate: 'Bearer error="invalid_token"' });
      }
    });
  });

  describe('?access_token= (EventSource cannot set headers)', () => {
    it('is taken on the event stream only, and never written to the log', async () => {
      const token = await mint(athlete, CLIENT_ABILITIES);
      const events = ROUTES.find((r) => r.stream)!;
      expect(await call(events, athlete, undefined, `?access_token=${token}`)).toEqual({ status: 200, wwwAuthenticate: null });
      const expired = await mint(athlete, ['events'], 60);
      api.clock.offsetMs = 120_000;
      expect((await call(events, athlete, undefined, `?access_token=${expired}`)).status).toBe(401);
      api.clock.offsetMs = 0;
      for (const route of ROUTES.filter((r) => !r.stream && r.ability !== null)) {
        expect((await call(route, athlete, undefined, `?access_token=${token}`)).status, `${route.method} ${route.path}`).toBe(401);
      }
      const logs = api.logs.join('\n');
      expect(logs).toContain(`/athletes/${athlete}/events`);
      for (const secret of [token, expired, token.split('.')[2]!]) expect(logs).not.toContain(secret);
    });
  });

  describe('POST /athletes/:id/client-tokens', () => {
    it('answers the token, its expiry and abilities, not cached; a bounded lifetime', async () => {
      const response = await api.fetch(`/athletes/${athlete}/client-tokens`, {
        method: 'POST',
        admin: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ abilities: ['read', 'events', 'read'], ttlSeconds: 600 }),
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = (await response.json()) as { token: string; expiresAt: string; athleteId: number; abilities: string[] };
      expect(body).toMatchObject({ athleteId: athlete, abilities: ['read', 'events'] });
      expect(Math.abs(Date.parse(body.expiresAt) - Date.now() - 600_000)).toBeLessThan(5_000);
      expect(decodeJwt(body.token)).toMatchObject({ sub: String(athlete), scope: 'read events', iss: 'strava-sync' });
    });

    it.each([
      [{ abilities: [] }, 'abilities'],
      [{ abilities: ['admin'] }, 'abilities'],
      [{ abilities: ['read'], ttlSeconds: 10 }, 'ttlSeconds'],
      [{ abilities: ['read'], ttlSeconds: 86_401 }, 'ttlSeconds'],
      [{ abilities: ['read'], ttlSeconds: 1.5 }, 'ttlSeconds'],
      [{ abilities: ['read'], athleteId: 1 }, 'athleteId'],
      [{}, 'abilities'],
    ])('%j -> 400 naming %s', async (body, field) => {
      const response = await api.fetch(`/athletes/${athlete}/client-tokens`, {
        method: 'POST',
        admin: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(400);
      const error = ((await response.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('invalid_request');
      expect(error.message).toContain(field);
    });

    it('unknown athlete -> 404', async () => {
      const response = await api.fetch('/athletes/987654321/client-tokens', {
        method: 'POST',
        admin: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ abilities: ['read'] }),
      });
      expect(response.status).toBe(404);
    });
  });
});

describe('client token keys (CLIENT_TOKEN_KEYS rotation)', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  it('the first key signs, every listed key verifies, a dropped key no longer does', async () => {
    const before = createClientTokens({ keys: [oldKey] });
    const token = (await before.mint(42, ['read'], 600)).token;
    const during = createClientTokens({ keys: [newKey, oldKey] });
    expect(await during.verify(token)).toMatchObject({ ok: true, claims: { athleteId: 42, abilities: ['read'] } });
    const fresh = (await during.mint(42, ['events'], 600)).token;
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString('utf8'))).toMatchObject({ alg: 'HS256', kid: keyId(newKey) });
    const after = createClientTokens({ keys: [newKey] });
    expect(await after.verify(fresh)).toMatchObject({ ok: true });
    expect(await after.verify(token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('expiry is checked against the injected clock', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const tokens = createClientTokens({ keys: [newKey], now: () => now });
    const { token, expiresAt } = await tokens.mint(7, ['read'], 60);
    expect(expiresAt.toISOString()).toBe('2030-01-01T00:01:00.000Z');
    now += 59_000;
    expect((await tokens.verify(token)).ok).toBe(true);
    now += 2_000;
    expect(await tokens.verify(token)).toEqual({ ok: false, reason: 'expired' });
  });
});
