import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startEmulator } from '../../src/emulator/index.js';
import { startCallbackServer, subscribe, waitFor, withEmulator, type CallbackServer } from './helpers.js';

const CALLBACK_FAILED = '{"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"callback url","code":"GET to callback URL does not return 200"}]}';

let callback: CallbackServer;
beforeEach(async () => {
  callback = await startCallbackServer();
});
afterEach(async () => {
  await callback.close();
});

describe('push subscriptions', () => {
  it('POST performs the handshake, answers 201; GET lists it; a second one is refused; DELETE answers 204', async () => {
    await withEmulator({}, async (emulator) => {
      const created = await subscribe(emulator, callback.url, 'my-verify-token');
      expect(created.status).toBe(201);
      expect(Object.keys(created.json)).toEqual(['id', 'resource_state', 'application_id', 'callback_url', 'created_at', 'updated_at']);
      expect(created.json).toMatchObject({ resource_state: 2, application_id: 1000, callback_url: callback.url });
      expect(callback.handshakes).toHaveLength(1);
      const query = callback.handshakes[0]!;
      expect([...query.keys()]).toEqual(['hub.mode', 'hub.challenge', 'hub.verify_token']);
      expect(query.get('hub.mode')).toBe('subscribe');
      expect(query.get('hub.verify_token')).toBe('my-verify-token');

      const credentials = `client_id=${emulator.clientId}&client_secret=${emulator.clientSecret}`;
      const listed = await fetch(`${emulator.apiUrl}/push_subscriptions?${credentials}`);
      expect(listed.status).toBe(200);
      expect(await listed.json()).toEqual([created.json]);

      const second = await subscribe(emulator, callback.url);
      expect(second.status).toBe(400);
      expect(second.text).toBe('{"message":"Bad Request","errors":[{"resource":"PushSubscription","field":"callback url","code":"already exists"}]}');

      const deleted = await fetch(`${emulator.apiUrl}/push_subscriptions/${created.json.id}?${credentials}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe('');
      expect(await (await fetch(`${emulator.apiUrl}/push_subscriptions?${credentials}`)).json()).toEqual([]);
    });
  });

  it('accepts multipart form fields, as in Strava\'s curl -F examples', async () => {
    await withEmulator({}, async (emulator) => {
      const form = new FormData();
      form.set('client_id', emulator.clientId);
      form.set('client_secret', emulator.clientSecret);
      form.set('callback_url', callback.url);
      form.set('verify_token', 'multipart-token');
      const response = await fetch(`${emulator.apiUrl}/push_subscriptions`, { method: 'POST', body: form });
      expect(response.status).toBe(201);
      expect(callback.handshakes[0]!.get('hub.verify_token')).toBe('multipart-token');
      const wrongSecret = await fetch(`${emulator.apiUrl}/push_subscriptions?client_id=${emulator.clientId}&client_secret=nope`);
      expect(wrongSecret.status).toBe(400);
    });
  });

  it('the handshake fails with Strava\'s 400 when the callback answers wrong, not 200, or too slowly', async () => {
    await withEmulator({}, async (emulator) => {
      callback.handshake = (_query, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ 'hub.challenge': 'wrong' }));
      };
      expect(await subscribe(emulator, callback.url)).toMatchObject({ status: 400, text: CALLBACK_FAILED });
      callback.handshake = (query, res) => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ 'hub.challenge': query.get('hub.challenge') }));
      };
      expect(await subscribe(emulator, callback.url)).toMatchObject({ status: 400, text: CALLBACK_FAILED });
      callback.handshake = async (query, res) => {
        await new Promise((resolve) => setTimeout(resolve, 2300));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ 'hub.challenge': query.get('hub.challenge') }));
      };
      expect(await subscribe(emulator, callback.url)).toMatchObject({ status: 400, text: CALLBACK_FAILED });
      expect(await subscribe(emulator, 'http://127.0.0.1:1/nothing-listens')).toMatchObject({ status: 400, text: CALLBACK_FAILED });
      expect(await emulator.control.subscription()).toBeNull();
    });
  });
});

describe('events', () => {
  let emulator: RunningEmulator;
  let subscriptionId: number;
  beforeEach(async () => {
    emulator = await startEmulator({ webhookRetryDelayMs: 100 });
    subscriptionId = (await subscribe(emulator, callback.url)).json.id as number;
  });
  afterEach(async () => {
    await emulator.close();
  });

  const settled = () => emulator.control.webhooksSettled();
  /** Strava promises no order; waiting for each delivery keeps these assertions about content, not races. */
  const delivered = async <T>(action: Promise<T>, expected: number): Promise<T> => {
    const result = await action;
    await waitFor(() => callback.events.length, (n) => n >= expected);
    return result;
  };

  it('create, update (title, type, privacy) and delete send Strava\'s exact payloads', async () => {
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id, 'read,activity:read_all');
    const activity = await delivered(emulator.control.createActivity(athlete.id, { sport_type: 'Run' }), 1);
    await delivered(emulator.control.updateActivity(activity.id, { name: 'New title' }), 2);
    await delivered(emulator.control.updateActivity(activity.id, { sport_type: 'Ride' }), 3);
    await delivered(emulator.control.updateActivity(activity.id, { private: true }), 4);
    await delivered(emulator.control.updateActivity(activity.id, { visibility: 'everyone' }), 5);
    await emulator.control.updateActivity(activity.id, { description: 'no event for descriptions' });
    await delivered(emulator.control.deleteActivity(activity.id), 6);
    await settled();
    const bodies = callback.events.map((e) => e.body);
    const base = { object_type: 'activity', object_id: activity.id, owner_id: athlete.id, subscription_id: subscriptionId };
    expect(bodies.map(({ event_time, ...rest }) => rest)).toEqual([
      { ...base, aspect_type: 'create', updates: {} },
      { ...base, aspect_type: 'update', updates: { title: 'New title' } },
      { ...base, aspect_type: 'update', updates: { type: 'Ride' } },
      { ...base, aspect_type: 'update', updates: { private: 'true' } },
      { ...base, aspect_type: 'update', updates: { private: 'false' } },
      { ...base, aspect_type: 'delete', updates: {} },
    ]);
    expect(Object.keys(bodies[0]!)).toEqual(['object_type', 'object_id', 'aspect_type', 'updates', 'owner_id', 'subscription_id', 'event_time']);
    const nowS = Math.floor(emulator.now() / 1000);
    expect(Math.abs((bodies[0]!.event_time as number) - nowS)).toBeLessThan(5);
    expect(callback.events[0]!.raw).toBe(JSON.stringify(bodies[0]));
  });

  it('event_time follows the emulator clock', async () => {
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id);
    await emulator.control.setClock(Date.UTC(2030, 0, 1));
    await emulator.control.createActivity(athlete.id);
    await settled();
    expect(callback.events[0]!.body.event_time).toBe(Date.UTC(2030, 0, 1) / 1000);
  });

  it('an app with only activity:read gets delete/create on "Only You" flips and nothing for hidden activities', async () => {
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id, 'read,activity:read');
    const activity = await delivered(emulator.control.createActivity(athlete.id), 1);
    await delivered(emulator.control.updateActivity(activity.id, { private: true }), 2);
    await emulator.control.updateActivity(activity.id, { name: 'hidden rename' });
    await delivered(emulator.control.updateActivity(activity.id, { private: false }), 3);
    const hidden = await emulator.control.createActivity(athlete.id, { visibility: 'only_me' });
    await emulator.control.deleteActivity(hidden.id);
    await settled();
    expect(callback.events.map((e) => [e.body.object_id, e.body.aspect_type, e.body.updates])).toEqual([
      [activity.id, 'create', {}],
      [activity.id, 'delete', {}],
      [activity.id, 'create', {}],
    ]);
  });

  it('athletes without an activity scope, or who never authorized, produce no activity events', async () => {
    const profileOnly = await emulator.control.createAthlete();
    await emulator.control.issueTokens(profileOnly.id, 'read');
    const stranger = await emulator.control.createAthlete();
    await emulator.control.createActivity(profileOnly.id);
    await emulator.control.createActivity(stranger.id);
    await settled();
    expect(callback.events).toHaveLength(0);
  });

  it('a revocation on Strava\'s side sends the deauthorization event', async () => {
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id);
    await emulator.control.revokeAthlete(athlete.id);
    await settled();
    const { event_time, ...rest } = callback.events[0]!.body;
    expect(rest).toEqual({ object_type: 'athlete', object_id: athlete.id, aspect_type: 'update', updates: { authorized: 'false' }, owner_id: athlete.id, subscription_id: subscriptionId });
    expect(typeof event_time).toBe('number');
  });

  it('retries up to 3 attempts in total while the answer is not 200', async () => {
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id);
    callback.respond = () => 500;
    await emulator.control.createActivity(athlete.id);
    const counters = await settled();
    expect(callback.events).toHaveLength(3);
    expect(new Set(callback.events.map((e) => e.raw)).size).toBe(1);
    expect(callback.events[1]!.atMs - callback.events[0]!.atMs).toBeGreaterThanOrEqual(90);
    expect(counters).toMatchObject({ events: 1, deliveries: 1, attempts: 3, delivered: 0, failed: 1 });

    callback.events.length = 0;
    callback.respond = (_event, index) => (index === 0 ? 503 : index === 1 ? 201 : 200);
    await emulator.control.createActivity(athlete.id);
    expect(await settled()).toMatchObject({ attempts: 6, delivered: 1, failed: 1 });
    expect(callback.events).toHaveLength(3);
    const log = await emulator.control.webhookLog();
    expect(log.at(-1)!.attempts.map((a) => a.status)).toEqual([503, 201, 200]);
  });

  it('a callback slower than the timeout counts as a failed attempt', async () => {
    await emulator.close();
    emulator = await startEmulator({ webhookRetryDelayMs: 50, webhookTimeoutMs: 300 });
    await subscribe(emulator, callback.url);
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id);
    callback.respond = async (_event, index) => {
      if (index === 0) await new Promise((resolve) => setTimeout(resolve, 600));
      return 200;
    };
    await emulator.control.createActivity(athlete.id);
    expect(await settled()).toMatchObject({ attempts: 2, delivered: 1 });
    expect((await emulator.control.webhookLog())[0]!.attempts[0]!.error).toBe('timeout');
  });

  it('no subscription, no delivery', async () => {
    const credentials = `client_id=${emulator.clientId}&client_secret=${emulator.clientSecret}`;
    expect((await fetch(`${emulator.apiUrl}/push_subscriptions/${subscriptionId}?${credentials}`, { method: 'DELETE' })).status).toBe(204);
    const athlete = await emulator.control.createAthlete();
    await emulator.control.issueTokens(athlete.id);
    await emulator.control.createActivity(athlete.id);
    expect((await settled()).withoutSubscription).toBe(1);
    expect(callback.events).toHaveLength(0);
  });
});

describe('webhook faults', () => {
  async function produce(options: Parameters<typeof startEmulator>[0], count: number): Promise<{ received: Record<string, unknown>[]; counters: Awaited<ReturnType<RunningEmulator['control']['counters']>>['webhooks'] }> {
    return withEmulator({ webhookRetryDelayMs: 50, ...options }, async (emulator) => {
      await subscribe(emulator, callback.url);
      const athlete = await emulator.control.createAthlete();
      await emulator.control.issueTokens(athlete.id);
      for (let i = 0; i < count; i++) await emulator.control.createActivity(athlete.id);
      const counters = await emulator.control.webhooksSettled(20_000);
      return { received: callback.events.map((e) => e.body), counters };
    });
  }

  it('drops at the configured rate, deterministically for a seed', async () => {
    const { received, counters } = await produce({ seed: 3, faults: { webhookDropRate: 0.3 } }, 300);
    // 300 draws at p=0.3: mean 90, sd ~7.9; allow 4 sd.
    expect(counters.dropped).toBeGreaterThan(58);
    expect(counters.dropped).toBeLessThan(122);
    expect(received).toHaveLength(300 - counters.dropped);
    // Deliveries are concurrent, so compare the sets of events that arrived, not their arrival order.
    const sortedIds = (events: Record<string, unknown>[]) => events.map((e) => e.object_id as number).sort((a, b) => a - b);
    const firstIds = sortedIds(received);
    callback.events.length = 0;
    const again = await produce({ seed: 3, faults: { webhookDropRate: 0.3 } }, 300);
    expect(again.counters.dropped).toBe(counters.dropped);
    // Activity ids are seeded too: the same events arrive.
    expect(sortedIds(again.received)).toEqual(firstIds);
  });

  it('a reset restarts the drop decisions: the same events are dropped as after a fresh start', async () => {
    await withEmulator({ seed: 5, webhookRetryDelayMs: 50, faults: { webhookDropRate: 0.5 } }, async (emulator) => {
      const droppedOrdinals = async () => {
        await subscribe(emulator, callback.url);
        const athlete = await emulator.control.createAthlete();
        await emulator.control.issueTokens(athlete.id);
        for (let i = 0; i < 40; i++) await emulator.control.createActivity(athlete.id);
        await emulator.control.webhooksSettled(20_000);
        const log = await emulator.control.webhookLog();
        return log.filter((entry) => entry.event.object_type === 'activity').map((entry) => entry.outcome === 'dropped');
      };
      const first = await droppedOrdinals();
      await emulator.control.reset();
      const afterReset = await droppedOrdinals();
      expect(first.filter(Boolean).length).toBeGreaterThan(0);
      expect(afterReset).toEqual(first);
    });
  });

  it('duplicates at the configured rate: the same payload twice', async () => {
    const { received, counters } = await produce({ seed: 4, faults: { webhookDuplicateRate: 0.25, webhookDuplicateDelayMs: 20 } }, 300);
    expect(counters.duplicated).toBeGreaterThan(45);
    expect(counters.duplicated).toBeLessThan(105);
    expect(received).toHaveLength(300 + counters.duplicated);
    const seen = new Map<string, number>();
    for (const event of received) seen.set(JSON.stringify(event), (seen.get(JSON.stringify(event)) ?? 0) + 1);
    expect([...seen.values()].filter((n) => n === 2)).toHaveLength(counters.duplicated);
  });

  it('extra delay and reordering', async () => {
    const delayed = await withEmulator({ faults: { webhookDelayMs: 300 } }, async (emulator) => {
      await subscribe(emulator, callback.url);
      const athlete = await emulator.control.createAthlete();
      await emulator.control.issueTokens(athlete.id);
      const started = Date.now();
      await emulator.control.createActivity(athlete.id);
      await waitFor(() => callback.events.length, (n) => n === 1);
      return Date.now() - started;
    });
    expect(delayed).toBeGreaterThanOrEqual(290);

    callback.events.length = 0;
    const { received } = await produce({ seed: 9, faults: { webhookReorderRate: 0.5, webhookReorderDelayMs: 200 } }, 20);
    const ids = received.map((e) => e.object_id as number);
    expect(ids).toHaveLength(20);
    expect(ids).not.toEqual([...ids].sort((a, b) => a - b));
  });
});
