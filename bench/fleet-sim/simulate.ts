/**
 * A fleet of athletes over simulated days, driven through the service's own planning code: the budget-aware,
 * evidence-following backfill planner (src/workflows/backfill-plan.ts) and the real rate governor on PostgreSQL
 * (src/strava/rate-governor.ts) on a simulated clock. Strava's side is modelled by counting every granted request
 * in Strava's own 15-minute and daily windows: a request beyond Strava's limit there would have been a 429.
 *
 * What it does not run: Temporal, HTTP, the activities' SQL. It measures the policy (what is asked of Strava,
 * when, and what that repairs), which is what a week of a 10,000-athlete fleet is about; the HTTP and workflow
 * paths are measured by the other benchmarks.
 */
import type { Sql } from '../../src/db/connection.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../src/domain/durations.js';
import { ACTIVITY_CLASSES, ACTIVITY_WINDOW_MS, activityClassOf, type ActivityClass, type FleetLoad, type WebhookEvidence } from '../../src/domain/fleet-load.js';
import { mulberry32, type Random } from '../../src/emulator/prng.js';
import { dayStart, windowStart } from '../../src/strava/rate-headers.js';
import { createRateGovernor, type RateGovernor } from '../../src/strava/rate-governor.js';
import { EVIDENCE_FACTORS, MAX_BACKFILL_INTERVAL_MS, REQUESTS_PER_BACKFILL, nextBackfillDelayMs, withJitter } from '../../src/workflows/backfill-plan.js';

/** A kind of athlete: how many of the fleet, how often they upload, how long ago they last did at the start. */
export interface AthleteProfile {
  name: string;
  share: number;
  uploadsPerDay: number;
  /** Age of the latest activity at the start, drawn uniformly from [min, max] days (null: never uploaded). */
  initialAgeDays: [number, number] | null;
}

/** The assumed fleet: most connected athletes are idle (docs in bench/fleet-sim/RESULTS.md). */
export const DEFAULT_PROFILES: AthleteProfile[] = [
  { name: 'active', share: 0.25, uploadsPerDay: 0.8, initialAgeDays: [0, 7] },
  { name: 'occasional', share: 0.25, uploadsPerDay: 0.08, initialAgeDays: [15, 80] },
  { name: 'idle', share: 0.5, uploadsPerDay: 0.003, initialAgeDays: [100, 700] },
];

export type BackfillPolicy =
  /** strava-sync: budget-aware, evidence-following, a new activity pulls an athlete's far-off backfill in. */
  | 'strava-sync'
  /** The common design: every athlete every baseIntervalMs, whatever happens. */
  | 'fixed'
  /**
   * Bounds, not designs: policies that know each athlete's true upload rate (no service can), backfilling the named
   * profiles every baseIntervalMs and everyone else at the 14-day cap. They show what any rate-based classifier
   * could reach at best.
   */
  | { oracleFastProfiles: string[] };

export interface SimulationOptions {
  sql: Sql;
  athletes: number;
  days: number;
  seed: number;
  policy: BackfillPolicy;
  /** Share of webhook events Strava sends that never arrive. */
  webhookLoss: number;
  limits: { fifteenMinute: number; daily: number };
  backgroundShare: number;
  interactiveShare: number;
  baseIntervalMs: number;
  jitter: number;
  /** Share of uploads the athlete edits (a title change: an update event) 5-60 minutes later. */
  editShare: number;
  profiles?: AthleteProfile[];
  /** Simulated start (UTC midnight keeps the governor's daily pacing aligned with the report's days). */
  start?: number;
}

export interface SimulationResult {
  days: number;
  athletes: number;
  requestsPerDay: { realtime: number[]; background: number[]; total: number[] };
  /** Requests Strava would have answered 429 (beyond its 15-minute or daily limit in its own windows). */
  over429: number;
  backfills: number;
  changes: number;
  missed: number;
  /** Misses found by a backfill, and by a later event about the same activity (its fetch reads everything). */
  repairedByBackfill: number;
  repairedByEvent: number;
  unrepairedAtEnd: number;
  /** Over every miss; one still open at the end counts with its age then (a lower bound). */
  timeToRepairMs: { p50: number; p95: number; max: number } | null;
  /** Longest time any athlete went without a backfill (from the start or the previous one). */
  maxBackfillGapMs: number;
  /** Athletes with no backfill at all during the run. */
  neverBackfilled: number;
  /** Median planned interval per class over the run. */
  plannedIntervalMs: Record<ActivityClass, number | null>;
  /** Event fetches the governor held back (the realtime share was spent), and how long fetches waited. */
  realtimeDeferred: number;
  realtimeWaitMs: { p50: number; p95: number; max: number } | null;
  /** Event fetches still waiting at the end. */
  realtimeBacklog: number;
}

interface Athlete {
  id: number;
  profile: AthleteProfile;
  latestStart: number | null;
  /** Start times of uploads within the trailing window (oldest first; older ones are dropped as time passes). */
  recentUploads: number[];
  nextBackfillAt: number;
  lastBackfillAt: number;
  backfills: number;
  /** Changes webhooks missed and nothing has repaired yet: activity id -> time of the first missed change. */
  missed: Map<number, number>;
}

type SimEvent =
  | { at: number; kind: 'backfill'; athlete: Athlete }
  | { at: number; kind: 'upload'; athlete: Athlete }
  | { at: number; kind: 'change'; athlete: Athlete; activityId: number; create: boolean }
  | { at: number; kind: 'fetch'; athlete: Athlete; activityId: number; create: boolean }
  | { at: number; kind: 'drain'; athlete: null };

type Fetch = Extract<SimEvent, { kind: 'fetch' }>;

/** A binary min-heap on `at`: the simulation's agenda. */
class Agenda {
  private items: SimEvent[] = [];
  get size(): number {
    return this.items.length;
  }
  push(event: SimEvent): void {
    const items = this.items;
    items.push(event);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.at <= items[i]!.at) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }
  pop(): SimEvent | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && items[l]!.at < items[m]!.at) m = l;
        if (r < items.length && items[r]!.at < items[m]!.at) m = r;
        if (m === i) break;
        [items[m], items[i]] = [items[i]!, items[m]!];
        i = m;
      }
    }
    return top;
  }
}

const exponential = (random: Random, perDay: number) => (-Math.log(1 - random()) / perDay) * DAY_MS;

function percentiles(samples: number[]): { p50: number; p95: number; max: number } | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1)! };
}

/** Counts granted requests in Strava's windows, the way Strava's own limiter would. */
class StravaWindows {
  private window = { start: -1, used: 0 };
  private day = { start: -1, used: 0 };
  over = 0;
  constructor(private readonly limits: { fifteenMinute: number; daily: number }) {}
  count(at: number, requests: number): void {
    const ws = windowStart(at);
    const ds = dayStart(at);
    if (ws !== this.window.start) this.window = { start: ws, used: 0 };
    if (ds !== this.day.start) this.day = { start: ds, used: 0 };
    for (let i = 0; i < requests; i++) {
      this.window.used += 1;
      this.day.used += 1;
      if (this.window.used > this.limits.fifteenMinute || this.day.used > this.limits.daily) this.over += 1;
    }
  }
}

export async function simulateFleet(options: SimulationOptions): Promise<SimulationResult> {
  const random = mulberry32(options.seed);
  const start = options.start ?? Date.parse('2031-01-06T00:00:00Z');
  const end = start + options.days * DAY_MS;
  const clock = { now: start };
  await options.sql`truncate strava_rate_budget`;
  const governor: RateGovernor = createRateGovernor({
    sql: options.sql,
    backgroundShare: options.backgroundShare,
    interactiveShare: options.interactiveShare,
    defaultLimits: options.limits,
    now: () => clock.now,
  });
  const strava = new StravaWindows(options.limits);
  const agenda = new Agenda();
  const profiles = options.profiles ?? DEFAULT_PROFILES;

  const athletes: Athlete[] = [];
  for (let i = 0; i < options.athletes; i++) {
    let roll = random();
    const profile = profiles.find((p) => (roll -= p.share) < 0) ?? profiles.at(-1)!;
    const age = profile.initialAgeDays;
    const latestStart = age ? start - (age[0] + random() * (age[1] - age[0])) * DAY_MS : null;
    // The uploads before the latest one, at the profile's rate, as far back as the trailing window reaches.
    const recentUploads: number[] = [];
    for (let at = latestStart; at !== null && at >= start - ACTIVITY_WINDOW_MS; at -= exponential(random, profile.uploadsPerDay)) recentUploads.unshift(at);
    // Connected earlier: the first backfills are spread over one base interval, as a running fleet's are.
    const athlete: Athlete = {
      id: i + 1,
      profile,
      latestStart,
      recentUploads,
      nextBackfillAt: start + random() * options.baseIntervalMs,
      lastBackfillAt: start,
      backfills: 0,
      missed: new Map(),
    };
    athletes.push(athlete);
    agenda.push({ at: athlete.nextBackfillAt, kind: 'backfill', athlete });
    if (profile.uploadsPerDay > 0) agenda.push({ at: start + exponential(random, profile.uploadsPerDay), kind: 'upload', athlete });
  }

  const perDay = { realtime: new Array<number>(options.days).fill(0), background: new Array<number>(options.days).fill(0) };
  const dayIndex = (at: number) => Math.min(options.days - 1, Math.floor((at - start) / DAY_MS));
  const repairTimes: number[] = [];
  const planned: Record<ActivityClass, number[]> = { active: [], recent: [], dormant: [] };
  // Trailing-day evidence, as the service computes it from its sync history: changes by webhook vs repairs.
  const evidenceLog: { at: number; viaWebhook: number; repairs: number }[] = [];
  const stats = { backfills: 0, changes: 0, missed: 0, repairedByBackfill: 0, repairedByEvent: 0, maxGap: 0, realtimeDeferred: 0 };
  let nextActivityId = 1;
  let classCache: { at: number; counts: Record<ActivityClass, number> } | null = null;
  let budgetCache: { at: number; budget: number } | null = null;

  const classOf = (athlete: Athlete) => {
    while (athlete.recentUploads.length > 0 && athlete.recentUploads[0]! < clock.now - ACTIVITY_WINDOW_MS) athlete.recentUploads.shift();
    const latestStart = athlete.latestStart === null ? null : new Date(athlete.latestStart);
    return activityClassOf({ latestStart, uploadsInWindow: athlete.recentUploads.length }, clock.now);
  };
  function fleetLoad(athlete: Athlete, budget: number): FleetLoad {
    // The worker's snapshot is refreshed once a minute (src/activities fleetLoad): so is this one.
    if (!classCache || clock.now - classCache.at > MINUTE_MS) {
      const counts: Record<ActivityClass, number> = { active: 0, recent: 0, dormant: 0 };
      for (const a of athletes) counts[classOf(a)] += 1;
      classCache = { at: clock.now, counts };
    }
    const fleet: FleetLoad = { athletes: classCache.counts, athleteClass: classOf(athlete), dailyBackgroundBudget: budget };
    if (options.policy === 'strava-sync') fleet.evidence = trailingEvidence();
    return fleet;
  }
  function trailingEvidence(): WebhookEvidence {
    while (evidenceLog.length > 0 && evidenceLog[0]!.at < clock.now - DAY_MS) evidenceLog.shift();
    let viaWebhook = 0;
    let repairs = 0;
    for (const entry of evidenceLog) {
      viaWebhook += entry.viaWebhook;
      repairs += entry.repairs;
    }
    return { viaWebhook, repairs, subscriptionSilent: false };
  }
  function repair(athlete: Athlete, activityId: number, byBackfill: boolean): void {
    const missedAt = athlete.missed.get(activityId);
    if (missedAt === undefined) return;
    athlete.missed.delete(activityId);
    repairTimes.push(clock.now - missedAt);
    if (byBackfill) stats.repairedByBackfill += 1;
    else stats.repairedByEvent += 1;
  }
  async function planNext(athlete: Athlete): Promise<number> {
    if (options.policy === 'fixed') return options.baseIntervalMs;
    if (typeof options.policy === 'object') {
      const interval = options.policy.oracleFastProfiles.includes(athlete.profile.name) ? options.baseIntervalMs : MAX_BACKFILL_INTERVAL_MS;
      return withJitter(interval, options.jitter, random());
    }
    // The learned daily limit changes only when Strava reports another one: read it once a simulated minute.
    if (!budgetCache || clock.now - budgetCache.at > MINUTE_MS) budgetCache = { at: clock.now, budget: (await governor.snapshot()).day.limit * options.backgroundShare };
    const budget = budgetCache.budget;
    const fleet = fleetLoad(athlete, budget);
    const delay = nextBackfillDelayMs(options.baseIntervalMs, fleet, options.jitter, random());
    planned[fleet.athleteClass].push(delay);
    return delay;
  }
  async function spend(priority: 'realtime' | 'background', requests: number): Promise<number | null> {
    const granted = await governor.acquire(priority, requests);
    if (!granted.ok) return granted.waitMs;
    strava.count(clock.now, requests);
    perDay[priority][dayIndex(clock.now)]! += requests;
    return null;
  }

  const realtimeQueue: Fetch[] = [];
  const realtimeLags: number[] = [];
  let realtimeHead = 0;
  let drainScheduled = false;
  async function drainRealtime(): Promise<void> {
    while (realtimeHead < realtimeQueue.length) {
      const waitMs = await spend('realtime', 1);
      if (waitMs !== null) {
        drainScheduled = true;
        agenda.push({ at: clock.now + waitMs, kind: 'drain', athlete: null });
        return;
      }
      applyFetch(realtimeQueue[realtimeHead++]!);
    }
    realtimeQueue.length = 0;
    realtimeHead = 0;
  }
  function applyFetch(event: Fetch): void {
    const { athlete } = event;
    const lag = clock.now - event.at;
    if (lag > 0) stats.realtimeDeferred += 1;
    realtimeLags.push(lag);
    evidenceLog.push({ at: clock.now, viaWebhook: 1, repairs: 0 });
    // The fetch reads the whole activity: an earlier missed change to it is repaired too.
    repair(athlete, event.activityId, false);
    // A new activity Strava confirmed makes the athlete active: a far-off backfill is pulled in.
    if (options.policy === 'strava-sync' && event.create) {
      const activeInterval = options.baseIntervalMs * EVIDENCE_FACTORS.reliable.active;
      if (athlete.nextBackfillAt > clock.now + activeInterval) {
        athlete.nextBackfillAt = clock.now + activeInterval;
        agenda.push({ at: athlete.nextBackfillAt, kind: 'backfill', athlete });
      }
    }
  }

  for (let event = agenda.pop(); event && event.at < end; event = agenda.pop()) {
    clock.now = event.at;
    if (event.kind === 'drain') {
      drainScheduled = false;
      await drainRealtime();
      continue;
    }
    const { athlete } = event;
    switch (event.kind) {
      case 'upload': {
        const activityId = nextActivityId++;
        agenda.push({ at: clock.now, kind: 'change', athlete, activityId, create: true });
        if (random() < options.editShare) agenda.push({ at: clock.now + (5 + random() * 55) * MINUTE_MS, kind: 'change', athlete, activityId, create: false });
        agenda.push({ at: clock.now + exponential(random, athlete.profile.uploadsPerDay), kind: 'upload', athlete });
        break;
      }
      case 'change': {
        stats.changes += 1;
        if (event.create) {
          athlete.latestStart = clock.now;
          athlete.recentUploads.push(clock.now);
        }
        if (random() < options.webhookLoss) {
          stats.missed += 1;
          if (!athlete.missed.has(event.activityId)) athlete.missed.set(event.activityId, clock.now);
        } else {
          agenda.push({ at: clock.now + 50, kind: 'fetch', athlete, activityId: event.activityId, create: event.create });
        }
        break;
      }
      case 'fetch': {
        // Refused event fetches wait in order for the governor (the workflows' rate_limited wait, fleet-wide).
        realtimeQueue.push(event);
        if (!drainScheduled) await drainRealtime();
        break;
      }
      case 'backfill': {
        if (event.at !== athlete.nextBackfillAt) break; // superseded by a pulled-in backfill
        const pages = random() < REQUESTS_PER_BACKFILL - 1 ? 2 : 1;
        const waitMs = await spend('background', pages);
        if (waitMs !== null) {
          athlete.nextBackfillAt = clock.now + waitMs;
          agenda.push({ at: athlete.nextBackfillAt, kind: 'backfill', athlete });
          break;
        }
        stats.backfills += 1;
        athlete.backfills += 1;
        stats.maxGap = Math.max(stats.maxGap, clock.now - athlete.lastBackfillAt);
        athlete.lastBackfillAt = clock.now;
        const repairs = athlete.missed.size;
        for (const activityId of [...athlete.missed.keys()]) repair(athlete, activityId, true);
        if (repairs > 0) evidenceLog.push({ at: clock.now, viaWebhook: 0, repairs });
        athlete.nextBackfillAt = clock.now + (await planNext(athlete));
        agenda.push({ at: athlete.nextBackfillAt, kind: 'backfill', athlete });
        break;
      }
    }
  }

  for (const athlete of athletes) stats.maxGap = Math.max(stats.maxGap, end - athlete.lastBackfillAt);
  const median = (values: number[]) => (values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]! : null);
  const plannedIntervalMs = Object.fromEntries(ACTIVITY_CLASSES.map((c) => [c, median(planned[c])])) as Record<ActivityClass, number | null>;
  return {
    days: options.days,
    athletes: options.athletes,
    requestsPerDay: { ...perDay, total: perDay.realtime.map((r, i) => r + perDay.background[i]!) },
    over429: strava.over,
    backfills: stats.backfills,
    changes: stats.changes,
    missed: stats.missed,
    repairedByBackfill: stats.repairedByBackfill,
    repairedByEvent: stats.repairedByEvent,
    unrepairedAtEnd: athletes.reduce((sum, a) => sum + a.missed.size, 0),
    // A miss still open at the end has waited at least this long: counted, or a policy that never repairs would look fast.
    timeToRepairMs: percentiles([...repairTimes, ...athletes.flatMap((a) => [...a.missed.values()].map((missedAt) => end - missedAt))]),
    maxBackfillGapMs: stats.maxGap,
    neverBackfilled: athletes.filter((a) => a.backfills === 0).length,
    plannedIntervalMs,
    realtimeDeferred: stats.realtimeDeferred,
    realtimeWaitMs: percentiles(realtimeLags),
    realtimeBacklog: realtimeQueue.length - realtimeHead,
  };
}

export const hours = (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : (ms / HOUR_MS).toFixed(1));
