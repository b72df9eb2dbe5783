/**
 * The emulator's in-memory records. An activity keeps its Strava-shaped summary object (the exact JSON the list
 * endpoint sends) plus what only the detailed view adds; serialized JSON is cached and dropped on every change,
 * which is what makes the read endpoints fast.
 */
export type Visibility = 'everyone' | 'followers_only' | 'only_me';

export interface AthleteRecord {
  id: number;
  /** Strava's summary athlete (resource_state 2), key order as Strava sends it. */
  profile: Record<string, unknown>;
  timezone: { name: string; offsetS: number };
  home: { lat: number; lng: number; city: string; state: string; country: string };
  /** Sorted by (startS, id) ascending. */
  activities: ActivityRecord[];
  /** Encoded list pages by query; emptied on every change to the athlete's activities. */
  listCache: Map<string, Buffer>;
  /** Latest availableAtMs of the athlete's activities: pages are not cached while one is still processing. */
  processingUntilMs: number;
  /** What the athlete leaves ticked on the consent page (e.g. unticking "private activities"): the grant is the
   *  requested scopes within this set. Undefined: everything requested is granted. */
  consentScopes?: ReadonlySet<string>;
}

export interface ActivityRecord {
  id: number;
  athleteId: number;
  /** start_date as epoch seconds: the list endpoint filters and orders on it. */
  startS: number;
  visibility: Visibility;
  /** Emulator-clock epoch ms before which Strava is "still processing" it: invisible everywhere. */
  availableAtMs: number;
  summary: Record<string, unknown>;
  detailExtra: Record<string, unknown>;
  summaryJson?: string;
  detailJson?: string;
}

export function compareActivities(a: ActivityRecord, b: ActivityRecord): number {
  return a.startS - b.startS || a.id - b.id;
}

/** Inserts keeping (startS, id) order; generated data is appended pre-sorted, control-API creates use this. */
export function insertSorted(list: ActivityRecord[], activity: ActivityRecord): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareActivities(list[mid]!, activity) < 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, activity);
}

export function removeFrom(list: ActivityRecord[], activity: ActivityRecord): void {
  const index = list.indexOf(activity);
  if (index >= 0) list.splice(index, 1);
}

/** Index of the first activity with startS > afterS (list sorted ascending). */
export function firstAfter(list: ActivityRecord[], afterS: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.startS <= afterS) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first activity with startS >= beforeS. */
export function firstAtOrAfter(list: ActivityRecord[], beforeS: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.startS < beforeS) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
