/**
 * A day of athlete activity for bench/naive, planned once from a seed and the world's initial snapshot and then
 * played against an emulator (both designs get the same plan), and the freshness tracker that watches a
 * database for each change to become visible.
 *
 * Unlike the emulator's storm, each change keeps its time and the state it leaves, so the time from the change
 * to the database showing it can be measured per change. Edits lean to recent activities (people rename what
 * they just uploaded), a share goes to any activity of the history.
 */
import type { EmulatorControl } from '../../src/emulator/control-client.js';
import { mulberry32, pick, pickWeighted, randomInt } from '../../src/emulator/prng.js';
import type { GroundTruthSnapshot } from '../../src/emulator/snapshot.js';

type Visibility = 'everyone' | 'followers_only' | 'only_me';
export type ChangeKind = 'create' | 'rename' | 'retype' | 'delete' | 'privacy';

/** An activity the plan refers to: one of the initial world, or the n-th create of the plan. */
type Target = { existing: number } | { created: number };

export interface PlannedChange {
  index: number;
  /** ms from the start of the day. */
  atMs: number;
  kind: ChangeKind;
  athleteId: number;
  target: Target;
  name?: string;
  sportType?: string;
  visibility?: Visibility;
  /** create: "still processing" (404, left out of lists) for this long. */
  processingMs?: number;
}

const MIX: [ChangeKind, number][] = [['create', 40], ['rename', 25], ['retype', 5], ['delete', 10], ['privacy', 20]];
const SPORTS = ['Run', 'TrailRun', 'Ride', 'GravelRide', 'VirtualRide', 'Walk', 'Hike', 'Swim', 'WeightTraining', 'Yoga'];
const WORDS = ['Morning', 'Lunch', 'Evening', 'Easy', 'Tempo', 'Long', 'Recovery', 'Hill', 'Commute', 'Intervals'];

export interface DayPlanOptions {
  seed: number;
  changes: number;
  dayMs: number;
  /** [min, max] processing delay of a fifth of the creates, ms. */
  processingMs: [number, number];
}

export function planDay(snapshot: GroundTruthSnapshot, options: DayPlanOptions): PlannedChange[] {
  const random = mulberry32(options.seed ^ 0x5eed);
  const athletes = snapshot.athletes.filter((a) => a.activities.length > 0).sort((a, b) => a.id - b.id);
  // Per athlete, newest first: [target, visibility] of what is alive in the plan's view of the world.
  const alive = new Map<number, { target: Target; visibility: Visibility }[]>();
  for (const a of athletes) {
    const newestFirst = [...a.activities].sort((x, y) => y.start_date.localeCompare(x.start_date));
    alive.set(a.id, newestFirst.map((x) => ({ target: { existing: x.id }, visibility: x.visibility as Visibility })));
  }
  const times = Array.from({ length: options.changes }, () => Math.floor(random() * options.dayMs)).sort((a, b) => a - b);
  const plan: PlannedChange[] = [];
  let creates = 0;
  for (const [index, atMs] of times.entries()) {
    const athlete = pick(random, athletes);
    const list = alive.get(athlete.id)!;
    let kind = pickWeighted(random, MIX);
    if (kind !== 'create' && list.length === 0) kind = 'create';
    if (kind === 'create') {
      const roll = random();
      const visibility: Visibility = roll < 0.85 ? 'everyone' : roll < 0.95 ? 'followers_only' : 'only_me';
      const change: PlannedChange = { index, atMs, kind, athleteId: athlete.id, target: { created: creates++ }, name: `${pick(random, WORDS)} ${pick(random, SPORTS)}`, sportType: pick(random, SPORTS), visibility };
      if (random() < 0.2) change.processingMs = randomInt(random, options.processingMs[0], options.processingMs[1]);
      list.unshift({ target: change.target, visibility });
      plan.push(change);
      continue;
    }
    // 70 %: one of the athlete's five newest; else any.
    const at = random() < 0.7 ? Math.floor(random() * Math.min(5, list.length)) : Math.floor(random() * list.length);
    const entry = list[at]!;
    const change: PlannedChange = { index, atMs, kind, athleteId: athlete.id, target: entry.target };
    if (kind === 'rename') change.name = `${pick(random, WORDS)} ${pick(random, WORDS)} ${index}`;
    if (kind === 'retype') change.sportType = pick(random, SPORTS);
    if (kind === 'privacy') {
      const others = (['everyone', 'followers_only', 'only_me'] as const).filter((v) => v !== entry.visibility);
      change.visibility = pick(random, others);
      entry.visibility = change.visibility;
    }
    if (kind === 'delete') list.splice(at, 1);
    plan.push(change);
  }
  return plan;
}

/** What a database row must show once a change is visible; null: the row must be gone. */
export interface Expected {
  athleteId: number;
  activityId: number;
  state: { name: string; sport_type: string; private: boolean; visibility: string } | null;
}

export interface AppliedChange extends Expected {
  index: number;
  kind: ChangeKind;
  appliedAtMs: number;
}

/** Plays the plan against an emulator from dayStartMs (wall clock), resolving the plan's creates to real ids. */
export async function playDay(control: EmulatorControl, plan: PlannedChange[], dayStartMs: number, onApplied: (change: AppliedChange) => void): Promise<void> {
  const createdIds: number[] = [];
  const idOf = (target: Target) => ('existing' in target ? target.existing : createdIds[target.created]!);
  for (const change of plan) {
    const wait = dayStartMs + change.atMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const appliedAtMs = Date.now();
    let result: { id: number; name: string; sport_type: string; private: boolean; visibility: string } | null;
    if (change.kind === 'create') {
      const startDate = new Date((await control.now()) - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const visibility = change.visibility!;
      result = await control.createActivity(
        change.athleteId,
        { name: change.name!, sport_type: change.sportType!, start_date: startDate, visibility, private: visibility === 'only_me', moving_time: 3_000, elapsed_time: 3_200, distance: 10_000 },
        change.processingMs ? { processingMs: change.processingMs } : {},
      );
      createdIds[(change.target as { created: number }).created] = result.id;
    } else if (change.kind === 'delete') {
      await control.deleteActivity(idOf(change.target));
      result = null;
    } else {
      const patch =
        change.kind === 'rename' ? { name: change.name! } : change.kind === 'retype' ? { sport_type: change.sportType! } : { visibility: change.visibility!, private: change.visibility === 'only_me' };
      result = await control.updateActivity(idOf(change.target), patch);
    }
    const activityId = change.kind === 'create' ? result!.id : idOf(change.target);
    onApplied({
      index: change.index,
      kind: change.kind,
      appliedAtMs,
      athleteId: change.athleteId,
      activityId,
      state: result && { name: result.name, sport_type: result.sport_type, private: result.private, visibility: result.visibility },
    });
  }
}

export interface StoredActivity {
  id: number;
  athleteId: number;
  name: string;
  sportType: string;
  private: boolean;
  visibility: string | null;
}

export interface FreshnessResult {
  changes: number;
  /** Visible before the end, in ms from the change. */
  visibleMs: number[];
  /** Overtaken by a later change to the same activity before being seen (left out of the percentiles). */
  superseded: number;
  /** Never seen by the end. */
  never: number;
  neverByKind: Record<string, number>;
}

/**
 * Polls a database for each applied change to show up: a create or update once the row carries the state the
 * change left, a delete once the row is gone. Sampling every pollMs bounds the resolution.
 */
export class FreshnessTracker {
  private pending = new Map<number, AppliedChange>();
  private readonly visibleMs: number[] = [];
  private superseded = 0;
  private applied = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(
    private readonly read: () => Promise<StoredActivity[]>,
    private readonly pollMs = 250,
  ) {}

  add(change: AppliedChange): void {
    this.applied++;
    if (this.pending.has(change.activityId)) this.superseded++;
    this.pending.set(change.activityId, change);
  }

  start(): void {
    const tick = () => {
      this.polling = this.poll().catch(() => {});
      void this.polling.then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.pollMs);
      });
    };
    this.timer = setTimeout(tick, this.pollMs);
  }

  async stop(): Promise<FreshnessResult> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await this.poll();
    const neverByKind: Record<string, number> = {};
    for (const change of this.pending.values()) neverByKind[change.kind] = (neverByKind[change.kind] ?? 0) + 1;
    return { changes: this.applied, visibleMs: [...this.visibleMs], superseded: this.superseded, never: this.pending.size, neverByKind };
  }

  private async poll(): Promise<void> {
    if (this.pending.size === 0) return;
    const at = Date.now();
    const rows = new Map((await this.read()).map((r) => [Number(r.id), r]));
    for (const [id, change] of this.pending) {
      if (change.appliedAtMs > at) continue;
      const row = rows.get(id);
      const ok =
        change.state === null
          ? row === undefined
          : row !== undefined && row.name === change.state.name && row.sportType === change.state.sport_type && row.private === change.state.private && row.visibility === change.state.visibility;
      if (ok) {
        this.visibleMs.push(at - change.appliedAtMs);
        this.pending.delete(id);
      }
    }
  }
}

/** The q-quantile (0..1) of the visible delays with never-seen changes counted as infinitely late. */
export function quantile(result: FreshnessResult, q: number): number {
  const sorted = [...result.visibleMs].sort((a, b) => a - b);
  const n = sorted.length + result.never;
  if (n === 0) return 0;
  const rank = Math.ceil(q * n) - 1;
  return rank < sorted.length ? sorted[Math.max(0, rank)]! : Number.POSITIVE_INFINITY;
}
