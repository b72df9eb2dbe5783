import { describe, expect, it } from 'vitest';
import { eventKey, planActivityEvents, pushBounded, recordTombstone } from '../../src/workflows/event-plan.js';
import type { StravaEventSignal } from '../../src/domain/sync-types.js';

/** The pure planner that turns a batch of webhook events into one action per activity. */

const ev = (objectId: number, aspectType: StravaEventSignal['aspectType'], eventTime: number, extra: Partial<StravaEventSignal> = {}): StravaEventSignal => ({
  objectType: 'activity',
  objectId,
  aspectType,
  ownerId: 7,
  eventTime,
  updatedFields: [],
  ...extra,
});

describe('eventKey', () => {
  it('is the same for a re-sent event whatever the order of its changed fields, and differs for a different change', () => {
    expect(eventKey(ev(1, 'update', 10, { updatedFields: ['title', 'type'] }))).toBe(eventKey(ev(1, 'update', 10, { updatedFields: ['type', 'title'] })));
    expect(eventKey(ev(1, 'update', 10, { updatedFields: ['title'] }))).not.toBe(eventKey(ev(1, 'update', 10, { updatedFields: ['type'] })));
    expect(eventKey(ev(1, 'update', 10, { private: true }))).not.toBe(eventKey(ev(1, 'update', 10, { private: false })));
    expect(eventKey(ev(1, 'update', 10))).not.toBe(eventKey(ev(1, 'update', 11)));
  });

  it('tells apart two different renames in the same second by their digest; signals without one keep their old key', () => {
    const rename = (digest?: string) => ev(1, 'update', 10, { updatedFields: ['title'], ...(digest ? { updatesDigest: digest } : {}) });
    expect(eventKey(rename('aaaa'))).not.toBe(eventKey(rename('bbbb')));
    expect(eventKey(rename('aaaa'))).toBe(eventKey(rename('aaaa')));
    expect(eventKey(rename())).toBe('activity:1:update:10:title::');
  });
});

describe('planActivityEvents', () => {
  it('decides one action per activity, in first-seen order, ignoring athlete events', () => {
    const athlete: StravaEventSignal = { ...ev(7, 'update', 5, { deauthorized: true }), objectType: 'athlete' };
    const actions = planActivityEvents([ev(2, 'update', 5), athlete, ev(1, 'create', 6), ev(2, 'update', 7)], {});
    expect(actions.map((a) => [a.kind, a.activityId, a.eventTime, a.events.length])).toEqual([
      ['fetch', 2, 7, 2],
      ['fetch', 1, 6, 1],
    ]);
  });

  it('lets the newest event win: a newest delete removes, a create after a delete fetches', () => {
    expect(planActivityEvents([ev(1, 'create', 5), ev(1, 'delete', 6)], {})[0]).toMatchObject({ kind: 'delete', eventTime: 6 });
    expect(planActivityEvents([ev(1, 'delete', 6), ev(1, 'create', 5)], {})[0]).toMatchObject({ kind: 'delete', eventTime: 6 });
    expect(planActivityEvents([ev(1, 'delete', 5), ev(1, 'update', 6)], {})[0]).toMatchObject({ kind: 'fetch', afterCreate: false });
  });

  it('marks a fetch after a create (a 404 is then retried), unless a delete shares the newest second', () => {
    expect(planActivityEvents([ev(1, 'create', 5)], {})[0]).toMatchObject({ kind: 'fetch', afterCreate: true });
    expect(planActivityEvents([ev(1, 'create', 5), ev(1, 'delete', 5)], {})[0]).toMatchObject({ kind: 'fetch', afterCreate: false });
    expect(planActivityEvents([ev(1, 'create', 5)], { '1': 5 })[0]).toMatchObject({ kind: 'fetch', afterCreate: false });
  });

  it('never lets an event older than a recorded delete bring the activity back', () => {
    expect(planActivityEvents([ev(1, 'create', 4), ev(1, 'update', 5)], { '1': 6 })[0]).toMatchObject({ kind: 'stale', eventTime: 5 });
    expect(planActivityEvents([ev(1, 'update', 7)], { '1': 6 })[0]).toMatchObject({ kind: 'fetch' });
    expect(planActivityEvents([ev(1, 'update', 5)], { '2': 6 })[0]).toMatchObject({ kind: 'fetch' });
  });
});

describe('bounded lists', () => {
  it('pushBounded drops the oldest entries beyond the bound', () => {
    const list = ['a', 'b'];
    pushBounded(list, 'c', 2);
    expect(list).toEqual(['b', 'c']);
  });

  it('recordTombstone keeps the later delete time and forgets the oldest deletes first', () => {
    const tombstones: Record<string, number> = {};
    recordTombstone(tombstones, 1, 10, 2);
    recordTombstone(tombstones, 1, 5, 2);
    expect(tombstones).toEqual({ '1': 10 });
    recordTombstone(tombstones, 2, 3, 2);
    recordTombstone(tombstones, 3, 20, 2);
    expect(tombstones).toEqual({ '1': 10, '3': 20 });
  });
});
