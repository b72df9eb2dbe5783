/**
 * The emulated Strava world: athletes, their activities, and the webhook events their changes produce,
 * with Strava's privacy semantics (an app holding only activity:read never hears of "Only You" activities:
 * it gets a delete when one becomes private and a create when it becomes visible again).
 */
import type { EmulatorClock } from './clock.js';
import { generateActivity, generateAthlete, generateHistory, type AthleteOverrides } from './generate.js';
import { firstAfter, firstAtOrAfter, insertSorted, removeFrom, type ActivityRecord, type AthleteRecord, type Visibility } from './model.js';
import { mulberry32, randomInt, type Random } from './prng.js';
import { invalidate } from './serialize.js';
import { legacyType } from './sports.js';
import type { TokenStore } from './tokens.js';
import type { WebhookDispatcher } from './webhooks.js';

export interface ActivityFields {
  name?: string;
  sport_type?: string;
  start_date?: string;
  distance?: number;
  moving_time?: number;
  elapsed_time?: number;
  total_elevation_gain?: number;
  description?: string | null;
  private?: boolean;
  visibility?: Visibility;
  trainer?: boolean;
  commute?: boolean;
}

export interface ActivityPatch {
  name?: string;
  sport_type?: string;
  description?: string | null;
  private?: boolean;
  visibility?: Visibility;
}

export class EmulatorError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Resolves `private`/`visibility` into one consistent visibility (private=true is only_me). */
export function resolveVisibility(current: Visibility, patch: { private?: boolean; visibility?: Visibility }): Visibility {
  if (patch.visibility !== undefined) {
    if (patch.private !== undefined && patch.private !== (patch.visibility === 'only_me')) {
      throw new EmulatorError(400, 'private and visibility disagree: private is true exactly when visibility is only_me');
    }
    return patch.visibility;
  }
  if (patch.private === true) return 'only_me';
  if (patch.private === false) return current === 'only_me' ? 'everyone' : current;
  return current;
}

export class EmulatorStore {
  readonly athletes = new Map<number, AthleteRecord>();
  readonly activities = new Map<number, ActivityRecord>();
  private random!: Random;
  private nextActivityId!: number;
  private nextAthleteId!: number;
  private subscriptionCounter = 0;

  constructor(
    private readonly seed: number,
    private readonly clock: EmulatorClock,
    private readonly tokens: TokenStore,
    private readonly webhooks: WebhookDispatcher,
    private readonly historyYears: number,
    private readonly consentAthleteActivities = 0,
  ) {
    this.reset();
  }

  /** Empty, with the seeded stream and id counters as at construction: regenerating gives identical data. */
  reset(): void {
    this.athletes.clear();
    this.activities.clear();
    this.subscriptionCounter = 0;
    this.random = mulberry32(this.seed);
    // Strava activity ids are past 2^31 (about 1.5e10 today); athlete ids are 8-9 digits.
    this.nextActivityId = 12_000_000_000 + randomInt(this.random, 0, 999_999) * 1000;
    this.nextAthleteId = 30_000_000 + randomInt(this.random, 0, 9_999) * 1000;
  }

  /** Push subscription ids look like Strava's (six digits). */
  nextSubscriptionId(): number {
    this.subscriptionCounter++;
    return 131_300 + (Math.abs(this.seed) % 1000) * 10 + this.subscriptionCounter;
  }

  private allocateActivityId = (): number => {
    this.nextActivityId += randomInt(this.random, 1, 97);
    return this.nextActivityId;
  };

  createAthlete(input: { id?: number; activities?: number; historyYears?: number } & AthleteOverrides, atMs?: number): AthleteRecord {
    let id = input.id;
    if (id === undefined) {
      do this.nextAthleteId += randomInt(this.random, 1, 500);
      while (this.athletes.has(this.nextAthleteId));
      id = this.nextAthleteId;
    } else if (this.athletes.has(id)) {
      throw new EmulatorError(409, `athlete ${id} already exists`);
    }
    const nowMs = atMs ?? this.clock.now();
    const athlete = generateAthlete(this.random, id, nowMs, input);
    this.athletes.set(id, athlete);
    if (input.activities) {
      athlete.activities = generateHistory(this.random, athlete, input.activities, nowMs, this.allocateActivityId, input.historyYears ?? this.historyYears);
      for (const activity of athlete.activities) this.activities.set(activity.id, activity);
    }
    return athlete;
  }

  /** The athlete, created on the spot when unknown (the consent page "logs in" whoever is asked for). */
  athleteOrCreate(id: number | undefined): AthleteRecord {
    if (id !== undefined) {
      const existing = this.athletes.get(id);
      if (existing) return existing;
    }
    return this.createAthlete({ id, activities: this.consentAthleteActivities });
  }

  requireAthlete(id: number): AthleteRecord {
    const athlete = this.athletes.get(id);
    if (!athlete) throw new EmulatorError(404, `no athlete ${id}`);
    return athlete;
  }

  requireActivity(id: number): ActivityRecord {
    const activity = this.activities.get(id);
    if (!activity) throw new EmulatorError(404, `no activity ${id}`);
    return activity;
  }

  createActivity(athleteId: number, fields: ActivityFields = {}, options: { processingMs?: number } = {}): ActivityRecord {
    const athlete = this.requireAthlete(athleteId);
    const nowMs = this.clock.now();
    const visibility = resolveVisibility('everyone', fields);
    const startS = fields.start_date !== undefined ? Math.floor(Date.parse(fields.start_date) / 1000) : undefined;
    if (startS !== undefined && Number.isNaN(startS)) throw new EmulatorError(400, 'start_date must be an ISO 8601 date');
    const activity = generateActivity(this.random, athlete, {
      id: this.allocateActivityId(),
      // Default: an activity that just finished.
      startS: startS ?? Math.floor(nowMs / 1000) - randomInt(this.random, 1800, 7200),
      sportType: fields.sport_type,
      name: fields.name,
      visibility,
      availableAtMs: nowMs + (options.processingMs ?? 0),
    });
    const s = activity.summary;
    if (fields.moving_time !== undefined || fields.distance !== undefined) {
      const moving = fields.moving_time ?? (s.moving_time as number);
      const distance = fields.distance ?? (s.distance as number);
      s.moving_time = moving;
      s.distance = distance;
      s.average_speed = moving > 0 ? Math.round((distance / moving) * 1000) / 1000 : 0;
      s.max_speed = Math.max(s.max_speed as number, s.average_speed as number);
      if ((s.elapsed_time as number) < moving) s.elapsed_time = moving;
    }
    if (fields.elapsed_time !== undefined) s.elapsed_time = fields.elapsed_time;
    if (fields.total_elevation_gain !== undefined) s.total_elevation_gain = fields.total_elevation_gain;
    if (fields.trainer !== undefined) s.trainer = fields.trainer;
    if (fields.commute !== undefined) s.commute = fields.commute;
    if (fields.description !== undefined) activity.detailExtra.description = fields.description;
    insertSorted(athlete.activities, activity);
    this.activities.set(activity.id, activity);
    athlete.listCache.clear();
    athlete.processingUntilMs = Math.max(athlete.processingUntilMs, activity.availableAtMs);
    this.notifyActivity(activity, 'create', undefined, activity.visibility);
    return activity;
  }

  updateActivity(id: number, patch: ActivityPatch): ActivityRecord {
    const activity = this.requireActivity(id);
    const s = activity.summary;
    const before = activity.visibility;
    const after = resolveVisibility(before, patch);
    const updates: Record<string, string> = {};
    if (patch.name !== undefined && patch.name !== s.name) {
      s.name = patch.name;
      updates.title = patch.name;
    }
    if (patch.sport_type !== undefined && patch.sport_type !== s.sport_type) {
      s.sport_type = patch.sport_type;
      s.type = legacyType(patch.sport_type);
      updates.type = s.type as string;
    }
    if (patch.description !== undefined) activity.detailExtra.description = patch.description;
    if (after !== before) {
      activity.visibility = after;
      s.visibility = after;
      s.private = after === 'only_me';
      if ((before === 'only_me') !== (after === 'only_me')) updates.private = String(after === 'only_me');
    }
    invalidate(activity);
    this.athletes.get(activity.athleteId)?.listCache.clear();
    this.notifyActivity(activity, 'update', before, after, updates);
    return activity;
  }

  deleteActivity(id: number): void {
    const activity = this.requireActivity(id);
    this.activities.delete(id);
    const athlete = this.athletes.get(activity.athleteId);
    if (athlete) {
      removeFrom(athlete.activities, activity);
      athlete.listCache.clear();
    }
    this.notifyActivity(activity, 'delete', activity.visibility, undefined);
  }

  /** The athlete revokes the application on Strava's side: tokens die, the app hears about it. */
  revokeAthlete(athleteId: number): boolean {
    this.requireAthlete(athleteId);
    if (!this.tokens.revoke(athleteId)) return false;
    this.webhooks.emit({ object_type: 'athlete', object_id: athleteId, aspect_type: 'update', updates: { authorized: 'false' }, owner_id: athleteId, event_time: this.clock.nowSeconds() });
    return true;
  }

  /**
   * Emits what the application is allowed to hear. `before`/`after` are the visibility before and after the
   * change (undefined: did not exist / no longer exists).
   */
  private notifyActivity(activity: ActivityRecord, change: 'create' | 'update' | 'delete', before: Visibility | undefined, after: Visibility | undefined, updates: Record<string, string> = {}): void {
    const scopes = this.tokens.grantScopes(activity.athleteId);
    if (!scopes) return;
    const readAll = scopes.has('activity:read_all');
    if (!readAll && !scopes.has('activity:read')) return;
    const visible = (v: Visibility | undefined) => v !== undefined && (readAll || v !== 'only_me');
    const wasVisible = visible(before);
    const isVisible = visible(after);
    let aspect: 'create' | 'update' | 'delete' | undefined;
    let eventUpdates: Record<string, string> = {};
    if (change === 'create') aspect = isVisible ? 'create' : undefined;
    else if (change === 'delete') aspect = wasVisible ? 'delete' : undefined;
    else if (wasVisible && isVisible) {
      if (Object.keys(updates).length > 0) {
        aspect = 'update';
        eventUpdates = updates;
      }
    } else if (wasVisible) aspect = 'delete';
    else if (isVisible) aspect = 'create';
    if (!aspect) return;
    this.webhooks.emit({ object_type: 'activity', object_id: activity.id, aspect_type: aspect, updates: eventUpdates, owner_id: activity.athleteId, event_time: this.clock.nowSeconds() });
  }

  /** Can this token see the activity right now? */
  isVisible(activity: ActivityRecord, readAll: boolean, nowMs: number): boolean {
    return activity.availableAtMs <= nowMs && (readAll || activity.visibility !== 'only_me');
  }

  /**
   * GET /athlete/activities semantics: filter on start_date (before/after exclusive), newest first, or oldest
   * first when `after` is given; hidden and still-processing activities are skipped before paging.
   */
  listActivities(athlete: AthleteRecord, query: { before?: number; after?: number; page: number; perPage: number; readAll: boolean }, nowMs: number): ActivityRecord[] {
    const list = athlete.activities;
    const lo = query.after !== undefined ? firstAfter(list, query.after) : 0;
    const hi = query.before !== undefined ? firstAtOrAfter(list, query.before) : list.length;
    let skip = (query.page - 1) * query.perPage;
    const out: ActivityRecord[] = [];
    if (query.after !== undefined) {
      for (let i = lo; i < hi && out.length < query.perPage; i++) {
        const activity = list[i]!;
        if (!this.isVisible(activity, query.readAll, nowMs)) continue;
        if (skip > 0) skip--;
        else out.push(activity);
      }
    } else {
      for (let i = hi - 1; i >= lo && out.length < query.perPage; i--) {
        const activity = list[i]!;
        if (!this.isVisible(activity, query.readAll, nowMs)) continue;
        if (skip > 0) skip--;
        else out.push(activity);
      }
    }
    return out;
  }

  /** Every activity the application can see for the athlete now, newest first (what a full sync should hold). */
  groundTruth(athleteId: number, readAll: boolean): ActivityRecord[] {
    const athlete = this.requireAthlete(athleteId);
    const nowMs = this.clock.now();
    const out: ActivityRecord[] = [];
    for (let i = athlete.activities.length - 1; i >= 0; i--) {
      const activity = athlete.activities[i]!;
      if (this.isVisible(activity, readAll, nowMs)) out.push(activity);
    }
    return out;
  }

  describeAthlete(athlete: AthleteRecord): Record<string, unknown> {
    return {
      id: athlete.id,
      firstname: athlete.profile.firstname,
      lastname: athlete.profile.lastname,
      activities: athlete.activities.length,
      connected: this.tokens.hasGrant(athlete.id),
      scopes: [...(this.tokens.grantScopes(athlete.id) ?? [])],
      ...this.tokens.refreshStats(athlete.id),
    };
  }
}
