import { beforeEach, describe, expect, it } from 'vitest';
import { createRateGovernor, dayAllowance, dayTerms, type Priority } from '../../src/strava/rate-governor.js';
import { useTestDatabase } from '../helpers/database.js';
import { runFixture } from './fixtures/spawn.js';

const db = useTestDatabase();
// Limits learned in one test would carry over to the next (by design: they persist across days).
beforeEach(async () => {
  await db.sql`truncate strava_rate_budget`;
});
const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);

/** A governor on a manual clock. Each test uses its own UTC day so the shared budget table does not interfere. */
function governorAt(start: number, limits = { fifteenMinute: 100, daily: 1000 }) {
  const clock = { now: start };
  const governor = createRateGovernor({
    sql: db.sql,
    backgroundShare: 0.6,
    interactiveShare: 0.85,
    defaultLimits: limits,
    now: () => clock.now,
  });
  return { governor, clock };
}

async function drain(governor: ReturnType<typeof governorAt>['governor'], priority: Priority, max = 10_000) {
  let granted = 0;
  for (;;) {
    const result = await governor.acquire(priority);
    if (!result.ok) return { granted, refusal: result };
    if (++granted >= max) return { granted, refusal: undefined };
  }
}

describe('shares within a 15-minute window', () => {
  it('background stops at its share, interactive at its share, realtime gets the rest of the window', async () => {
    const { governor, clock } = governorAt(at('2030-01-01T10:07:00Z'));
    const bg = await drain(governor, 'background');
    expect(bg.granted).toBe(60);
    // Refused until the next window boundary (10:15).
    expect(bg.refusal).toMatchObject({ ok: false, waitMs: 8 * MIN });
    const interactive = await drain(governor, 'interactive');
    expect(interactive.granted).toBe(25);
    expect(interactive.refusal?.waitMs).toBe(8 * MIN);
    // Background is queued and refused, yet realtime still gets through, up to the window limit.
    expect((await governor.acquire('background')).ok).toBe(false);
    const realtime = await drain(governor, 'realtime');
    expect(realtime.granted).toBe(15);
    expect(realtime.refusal?.waitMs).toBe(8 * MIN);

    const snapshot = await governor.snapshot();
    expect(snapshot.window).toEqual({ limit: 100, used: 100 });
    expect(snapshot.usedByPriority).toEqual({ realtime: 15, interactive: 25, background: 60 });
    expect(snapshot.windowStart).toBe(at('2030-01-01T10:00:00Z'));

    // The next window (aligned to :15) starts empty.
    clock.now = at('2030-01-01T10:15:00Z');
    expect((await governor.acquire('realtime')).ok).toBe(true);
    expect((await governor.snapshot()).window.used).toBe(1);
    expect((await governor.snapshot()).day.used).toBe(101);
  });

  it('realtime is never starved: with background hammering first, every window keeps 40% for realtime', async () => {
    const { governor, clock } = governorAt(at('2030-01-02T12:00:00Z'), { fifteenMinute: 100, daily: 100_000 });
    for (let w = 0; w < 4; w++) {
      clock.now = at('2030-01-02T12:00:00Z') + w * 15 * MIN + 30_000;
      await drain(governor, 'background');
      const realtime = await drain(governor, 'realtime');
      expect(realtime.granted).toBe(40);
    }
  });
});

describe('the day', () => {
  it('gives background a head start of one window share right after midnight', async () => {
    // 00:05 is window 0: the pace alone would allow 0.6 x 1000 x 1/96 = 6.25 -> 6; the head start adds 0.6 x 100.
    const { governor } = governorAt(at('2030-01-03T00:05:00Z'));
    const bg = await drain(governor, 'background');
    expect(bg.granted).toBe(60);
    expect(bg.refusal).toMatchObject({ waitMs: 10 * MIN, reason: 'background share of the 15-minute window spent' });
    expect((await governor.snapshot()).allowed.background).toEqual({ window: 60, day: 66 });
  });

  it('paces background over the UTC day and says when it may go on', async () => {
    // Realtime fills windows 0 and 1 (200 reserved by 00:30).
    const { governor, clock } = governorAt(at('2030-01-03T00:01:00Z'));
    expect((await drain(governor, 'realtime')).granted).toBe(100);
    clock.now = at('2030-01-03T00:16:00Z');
    expect((await drain(governor, 'realtime')).granted).toBe(100);
    // 00:30 is window 2: background may have 0.6 x (1000 x 3/96 + 100) = 78.75 -> 78 of the day; 201 is beyond it.
    clock.now = at('2030-01-03T00:30:00Z');
    const refused = await governor.acquire('background');
    // 201 <= floor(6.25 x (j+1) + 60) first at j = 22: 05:30.
    expect(refused).toMatchObject({ ok: false, waitMs: 5 * 60 * MIN, reason: 'background daily pace reached' });
    clock.now = at('2030-01-03T05:29:59Z');
    expect((await governor.acquire('background')).ok).toBe(false);
    clock.now = at('2030-01-03T05:30:00Z');
    expect((await governor.acquire('background')).ok).toBe(true);
  });

  it('stops every priority at its daily share and waits for UTC midnight', async () => {
    const { governor, clock } = governorAt(at('2030-01-04T23:00:00Z'), { fifteenMinute: 1000, daily: 100 });
    const interactive = await drain(governor, 'interactive');
    expect(interactive.granted).toBe(85);
    expect(interactive.refusal).toMatchObject({ waitMs: 60 * MIN, reason: 'interactive daily budget spent' });
    const realtime = await drain(governor, 'realtime');
    expect(realtime.granted).toBe(15);
    expect(realtime.refusal?.waitMs).toBe(60 * MIN);
    clock.now = at('2030-01-05T00:00:00Z');
    expect((await governor.acquire('realtime')).ok).toBe(true);
  });
});

describe('learning from Strava headers', () => {
  it('learns limits, corrects usage upward only, and never charges a new window for an old response', async () => {
    const { governor, clock } = governorAt(at('2030-01-06T09:01:00Z'));
    await drain(governor, 'realtime', 10);
    // Another instance of the app used the same key: Strava reports more than we reserved.
    const headers = (usage15: number, usageDay: number) => ({
      read: { limit: { fifteenMinute: 300, daily: 3000 }, usage: { fifteenMinute: usage15, daily: usageDay } },
    });
    await governor.observe(headers(50, 70));
    let snapshot = await governor.snapshot();
    expect(snapshot.window).toEqual({ limit: 300, used: 50 });
    expect(snapshot.day).toEqual({ limit: 3000, used: 70 });
    expect(snapshot.allowed.background.window).toBe(180);
    // Lower usage (a response that left before our later reservations) never lowers the count.
    await governor.observe(headers(5, 6));
    snapshot = await governor.snapshot();
    expect(snapshot.window.used).toBe(50);
    expect(snapshot.day.used).toBe(70);
    // A response sent in the 09:00 window but observed after 09:15 does not charge the new window.
    const sentAt = clock.now;
    clock.now = at('2030-01-06T09:15:01Z');
    await governor.observe(headers(90, 110), sentAt);
    snapshot = await governor.snapshot();
    expect(snapshot.window.used).toBe(0);
    expect(snapshot.day.used).toBe(110);
    // Limits learned today carry over to a new day.
    clock.now = at('2030-01-07T00:00:00Z');
    expect((await drain(governor, 'realtime')).granted).toBe(300);
  });

  it('markExhausted after a 429 closes the window (or the day)', async () => {
    const { governor, clock } = governorAt(at('2030-01-08T08:00:00Z'));
    expect((await governor.acquire('realtime')).ok).toBe(true);
    await governor.markExhausted();
    expect(await governor.acquire('realtime')).toMatchObject({ ok: false, waitMs: 15 * MIN });
    clock.now = at('2030-01-08T08:15:00Z');
    expect((await governor.acquire('realtime')).ok).toBe(true);
    await governor.markExhausted('day');
    expect(await governor.acquire('realtime')).toMatchObject({ ok: false, waitMs: 15 * 60 * MIN + 45 * MIN });
  });
});

describe('many processes', () => {
  it('8 concurrent workers in 2 processes never exceed a limit', async () => {
    const phases = ['2030-02-01T10:00:00Z', '2030-02-01T10:15:00Z', '2030-02-01T10:30:00Z'].map(at);
    const env = {
      DATABASE_URL: db.url,
      PRIORITIES: 'background,background,interactive,realtime',
      PHASES: phases.join(','),
      START_AT: String(Date.now() + 3_000),
      PROCESSES: '2',
      LIMIT_15MIN: '100',
      LIMIT_DAY: '250',
    };
    type Out = { granted: Record<Priority, number>[] };
    const results = (await Promise.all([runFixture<Out>('hammer-governor.ts', env), runFixture<Out>('hammer-governor.ts', env)])).map(
      (lines) => lines[0]!,
    );
    const perPhase = phases.map((_, p) => {
      const sum = { realtime: 0, interactive: 0, background: 0 };
      for (const r of results) for (const k of Object.keys(sum) as Priority[]) sum[k] += r.granted[p]![k];
      return sum;
    });
    const total = (s: Record<Priority, number>) => s.realtime + s.interactive + s.background;
    // Realtime workers keep pushing, so each window fills exactly to its limit, and the day stops at 250.
    expect(perPhase.map(total)).toEqual([100, 100, 50]);
    // Background never beyond its share of a window nor beyond the day's pace (0.6 x (250 x (i+1)/96 + 100)).
    let backgroundSoFar = 0;
    perPhase.forEach((s, p) => {
      expect(s.background).toBeLessThanOrEqual(60);
      expect(s.background + s.interactive).toBeLessThanOrEqual(85);
      backgroundSoFar += s.background;
      const pace = dayTerms('background', 40 + p, { backgroundShare: 0.6, interactiveShare: 0.85 });
      expect(backgroundSoFar).toBeLessThanOrEqual(dayAllowance(pace, { windowLimit: 100, dayLimit: 250 }));
    });
    expect(perPhase[0]!.background).toBeGreaterThan(0);
    // Both processes got grants: they really competed.
    for (const r of results) expect(r.granted.reduce((n, s) => n + total(s), 0)).toBeGreaterThan(0);
    const [row] = await db.sql<{ dayReserved: number }[]>`
      select day_reserved as "dayReserved" from strava_rate_budget where day_start = ${at('2030-02-01T00:00:00Z')}`;
    expect(row!.dayReserved).toBe(250);
  });
});
