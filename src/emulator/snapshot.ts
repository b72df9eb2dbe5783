/**
 * The ground truth of every athlete at one instant: what the application may see of each athlete's activities
 * given the athlete's current grant (nothing without one, no "Only You" without activity:read_all, nothing still
 * processing). A sync service that has caught up holds exactly this.
 */
import type { EmulatorContext } from './context.js';
import type { RefreshStats } from './tokens.js';

export interface SnapshotActivity {
  id: number;
  name: string;
  sport_type: string;
  type: string;
  private: boolean;
  visibility: 'everyone' | 'followers_only' | 'only_me';
  start_date: string;
}

export interface AthleteSnapshot extends RefreshStats {
  id: number;
  /** The athlete has authorized the application (a grant exists). */
  connected: boolean;
  scopes: string[];
  /** What the application should hold for this athlete, newest first. */
  activities: SnapshotActivity[];
  /** Activities (any visibility) still "processing": not visible yet, will appear. */
  processing: number;
}

export interface GroundTruthSnapshot {
  /** Emulator clock when it was taken. */
  atMs: number;
  athletes: AthleteSnapshot[];
}

export function groundTruthSnapshot(ctx: EmulatorContext): GroundTruthSnapshot {
  const atMs = ctx.clock.now();
  const athletes: AthleteSnapshot[] = [];
  for (const athlete of ctx.store.athletes.values()) {
    const scopes = ctx.tokens.grantScopes(athlete.id);
    const readAll = scopes?.has('activity:read_all') ?? false;
    const canRead = readAll || (scopes?.has('activity:read') ?? false);
    const activities = canRead
      ? ctx.store.groundTruth(athlete.id, readAll).map(({ summary: s }) => ({
          id: s.id as number,
          name: s.name as string,
          sport_type: s.sport_type as string,
          type: s.type as string,
          private: s.private as boolean,
          visibility: s.visibility as SnapshotActivity['visibility'],
          start_date: s.start_date as string,
        }))
      : [];
    athletes.push({
      id: athlete.id,
      connected: scopes !== undefined,
      scopes: [...(scopes ?? [])],
      ...ctx.tokens.refreshStats(athlete.id),
      activities,
      processing: athlete.activities.filter((a) => a.availableAtMs > atMs).length,
    });
  }
  return { atMs, athletes };
}
