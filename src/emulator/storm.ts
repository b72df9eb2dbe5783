/**
 * A seeded storm of athlete activity changes (creates, renames, sport type edits, deletes, privacy flips both
 * ways, creates that stay "still processing" for a while), applied through the store so each one produces the
 * webhook event Strava would send. The same seed on the same world gives the same changes in the same order:
 * a chaos run can be repeated, and its ground truth compared with what the service holds.
 */
import { z } from 'zod';
import { isoSeconds } from './generate.js';
import type { ActivityRecord, Visibility } from './model.js';
import { mulberry32, pick, pickWeighted, randomInt, type Random } from './prng.js';
import type { EmulatorStore } from './store.js';

export const STORM_KINDS = ['create', 'rename', 'retype', 'delete', 'privacy'] as const;
export type StormKind = (typeof STORM_KINDS)[number];

export const stormSpecSchema = z.object({
  seed: z.number().int(),
  /** Changes in all. */
  changes: z.number().int().min(0).max(1_000_000),
  /** Spread evenly over this long (0: all at once). */
  durationMs: z.number().int().min(0).default(0),
  /** Whose activities change; default every athlete. */
  athleteIds: z.array(z.number().int().positive()).optional(),
  /** Relative weights of the kinds of change; a kind left out keeps its default weight (DEFAULT_STORM_MIX). */
  mix: z
    .object({ create: z.number().min(0), rename: z.number().min(0), retype: z.number().min(0), delete: z.number().min(0), privacy: z.number().min(0) })
    .partial()
    .optional(),
  /** Share of creates that answer 404 (and stay out of lists) for a while after their create event. */
  processingRate: z.number().min(0).max(1).default(0.2),
  /** [min, max] of that while, ms on the emulator clock. */
  processingMs: z.tuple([z.number().int().min(0), z.number().int().min(0)]).default([2_000, 15_000]),
  /** Share of creates dated days back (late uploads), not just finished. */
  lateUploadRate: z.number().min(0).max(1).default(0.1),
});
export type StormSpec = z.input<typeof stormSpecSchema>;
type ResolvedStormSpec = z.output<typeof stormSpecSchema>;

export const DEFAULT_STORM_MIX: Record<StormKind, number> = { create: 25, rename: 25, retype: 10, delete: 15, privacy: 25 };

/** One applied change: ids and kinds only (what a report may print). */
export interface StormChange {
  index: number;
  kind: StormKind;
  athleteId: number;
  activityId: number;
  /** privacy: the visibility before and after; create: the processing delay given, if any. */
  from?: Visibility;
  to?: Visibility;
  processingMs?: number;
}

export interface StormProgress {
  running: boolean;
  planned: number;
  applied: number;
  byKind: Record<StormKind, number>;
  /** Privacy flips by direction: to "Only You" and back out of it (everyone <-> followers_only counts as neither). */
  privacy: { toOnlyMe: number; fromOnlyMe: number; other: number };
  /** Creates given a processing delay (404 at first). */
  delayedCreates: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
}

const SPORTS = ['Run', 'TrailRun', 'Ride', 'GravelRide', 'MountainBikeRide', 'EMountainBikeRide', 'VirtualRide', 'Walk', 'Hike', 'Swim', 'Rowing', 'WeightTraining', 'Yoga'];
const NAME_WORDS = ['Morning', 'Lunch', 'Evening', 'Night', 'Rainy', 'Windy', 'Easy', 'Tempo', 'Long', 'Recovery', 'Hill', 'Commute'];
const DAY_MS = 86_400_000;

/**
 * Decides and applies storm changes one at a time against the live store: every choice comes from the storm's
 * own seeded stream and the store's current state, so the sequence is the same for the same seed and world.
 */
export class Storm {
  private readonly spec: ResolvedStormSpec;
  private readonly random: Random;
  private readonly mix: readonly (readonly [StormKind, number])[];
  private timer: NodeJS.Timeout | undefined;
  readonly log: StormChange[] = [];
  readonly progress: StormProgress;

  constructor(
    private readonly store: EmulatorStore,
    spec: StormSpec,
    private readonly now: () => number,
  ) {
    this.spec = stormSpecSchema.parse(spec);
    this.random = mulberry32(this.spec.seed ^ 0x5707_0003);
    const weights = { ...DEFAULT_STORM_MIX, ...this.spec.mix };
    this.mix = STORM_KINDS.map((kind) => [kind, weights[kind]] as const);
    this.progress = {
      running: false,
      planned: this.spec.changes,
      applied: 0,
      byKind: { create: 0, rename: 0, retype: 0, delete: 0, privacy: 0 },
      privacy: { toOnlyMe: 0, fromOnlyMe: 0, other: 0 },
      delayedCreates: 0,
      startedAtMs: null,
      finishedAtMs: null,
    };
  }

  private athleteIds(): number[] {
    const ids = this.spec.athleteIds ?? [...this.store.athletes.keys()];
    return ids.filter((id) => this.store.athletes.has(id)).sort((a, b) => a - b);
  }

  /** Applies the next change; false when the storm is over (or no athlete is left to change). */
  step(): boolean {
    if (this.progress.applied >= this.spec.changes) return false;
    const ids = this.athleteIds();
    if (ids.length === 0) return false;
    const athlete = this.store.requireAthlete(pick(this.random, ids));
    let kind = pickWeighted(this.random, this.mix);
    // Keep every draw even when the athlete has nothing to edit, so later choices do not shift.
    const targetRoll = this.random();
    const extraRoll = this.random();
    const nameRoll = this.random();
    if (kind !== 'create' && athlete.activities.length === 0) kind = 'create';
    const index = this.progress.applied;
    let change: StormChange;
    if (kind === 'create') {
      const delayed = extraRoll < this.spec.processingRate;
      const [min, max] = this.spec.processingMs;
      const processingMs = delayed ? min + Math.floor(nameRoll * (max - min + 1)) : 0;
      const late = targetRoll < this.spec.lateUploadRate;
      const startS = Math.floor((this.now() - (late ? randomInt(this.random, 1, 20) * DAY_MS : randomInt(this.random, 30, 180) * 60_000)) / 1000);
      const sport = pick(this.random, SPORTS);
      const created = this.store.createActivity(
        athlete.id,
        { name: `${pick(this.random, NAME_WORDS)} ${sport} ${index}`, sport_type: sport, start_date: isoSeconds(startS) },
        { processingMs },
      );
      change = { index, kind, athleteId: athlete.id, activityId: created.id, ...(delayed ? { processingMs } : {}) };
      if (delayed) this.progress.delayedCreates++;
    } else {
      const target: ActivityRecord = athlete.activities[Math.floor(targetRoll * athlete.activities.length)]!;
      change = { index, kind, athleteId: athlete.id, activityId: target.id };
      if (kind === 'rename') {
        this.store.updateActivity(target.id, { name: `${NAME_WORDS[Math.floor(nameRoll * NAME_WORDS.length)]} ${target.summary.sport_type as string} (edit ${index})` });
      } else if (kind === 'retype') {
        const others = SPORTS.filter((s) => s !== target.summary.sport_type);
        this.store.updateActivity(target.id, { sport_type: others[Math.floor(nameRoll * others.length)]! });
      } else if (kind === 'delete') {
        this.store.deleteActivity(target.id);
      } else {
        const from = target.visibility;
        // Out of "Only You" half the time to everyone, else to followers; into it most of the time, otherwise a
        // change between everyone and followers_only (which Strava does not announce at all).
        const to: Visibility =
          from === 'only_me' ? (extraRoll < 0.5 ? 'everyone' : 'followers_only') : extraRoll < 0.8 ? 'only_me' : from === 'everyone' ? 'followers_only' : 'everyone';
        this.store.updateActivity(target.id, { visibility: to });
        change = { ...change, from, to };
        if (to === 'only_me') this.progress.privacy.toOnlyMe++;
        else if (from === 'only_me') this.progress.privacy.fromOnlyMe++;
        else this.progress.privacy.other++;
      }
    }
    this.progress.byKind[kind]++;
    this.progress.applied++;
    this.log.push(change);
    return true;
  }

  /** Runs the storm on timers, durationMs spread evenly over the changes. */
  start(): void {
    if (this.progress.running || this.progress.startedAtMs !== null) return;
    this.progress.running = true;
    this.progress.startedAtMs = this.now();
    const spacing = this.spec.changes > 0 ? this.spec.durationMs / this.spec.changes : 0;
    const startedAt = Date.now();
    const tick = () => {
      this.timer = undefined;
      // Catch up after a slow tick instead of drifting: the storm's length is what the caller planned.
      const due = spacing === 0 ? this.spec.changes : Math.min(this.spec.changes, Math.floor((Date.now() - startedAt) / spacing) + 1);
      while (this.progress.applied < due) if (!this.step()) break;
      if (this.progress.applied >= this.spec.changes || this.athleteIds().length === 0) return this.finish();
      this.timer = setTimeout(tick, Math.max(0, startedAt + (this.progress.applied) * spacing - Date.now()));
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.progress.running) this.finish();
  }

  private finish(): void {
    this.progress.running = false;
    this.progress.finishedAtMs = this.now();
  }
}
