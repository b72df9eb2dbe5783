/**
 * JSON for activities and athletes, cached on the record: the list endpoint joins cached summary strings, so a
 * page of 200 costs a string join rather than 200 JSON.stringify calls.
 */
import type { ActivityRecord, AthleteRecord } from './model.js';

export function summaryJson(activity: ActivityRecord): string {
  return (activity.summaryJson ??= JSON.stringify(activity.summary));
}

export function detailJson(activity: ActivityRecord): string {
  return (activity.detailJson ??= JSON.stringify(detailObject(activity)));
}

export function invalidate(activity: ActivityRecord): void {
  activity.summaryJson = undefined;
  activity.detailJson = undefined;
}

/** Derived from the id (stable, 40 hex chars) instead of stored: nobody reads it, and generation stays fast. */
function embedToken(id: number): string {
  let out = '';
  let x = id % 4294967296;
  for (let i = 0; i < 5; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
    x = (x ^ (x >>> 12)) >>> 0;
    out += x.toString(16).padStart(8, '0');
  }
  return out;
}

function splits(distance: number, movingTime: number, elapsedTime: number, unitM: number, elevation: number): unknown[] {
  if (distance <= 0) return [];
  const out: unknown[] = [];
  const speed = distance / movingTime;
  const full = Math.floor(distance / unitM);
  const count = full + (distance - full * unitM > 1 ? 1 : 0);
  for (let i = 0; i < count; i++) {
    const length = i < full ? unitM : Math.round((distance - full * unitM) * 10) / 10;
    const moving = Math.round(length / speed);
    out.push({
      distance: length,
      elapsed_time: Math.round((moving * elapsedTime) / movingTime),
      elevation_difference: Math.round(((elevation * length) / distance) * (i % 2 === 0 ? 1 : -0.8) * 10) / 10,
      moving_time: moving,
      split: i + 1,
      average_speed: Math.round(speed * 100) / 100,
      pace_zone: 0,
    });
  }
  return out;
}

/** DetailedActivity: the summary (resource_state 3) plus what only GET /activities/{id} returns. */
export function detailObject(activity: ActivityRecord): Record<string, unknown> {
  const s = activity.summary;
  const distance = s.distance as number;
  const movingTime = s.moving_time as number;
  const elapsedTime = s.elapsed_time as number;
  const elevation = s.total_elevation_gain as number;
  const map = s.map as Record<string, unknown>;
  const gearId = s.gear_id as string | null;
  return {
    ...s,
    resource_state: 3,
    description: activity.detailExtra.description,
    calories: activity.detailExtra.calories,
    map: { id: map.id, polyline: activity.detailExtra.polyline, summary_polyline: map.summary_polyline, resource_state: 3 },
    segment_efforts: [],
    splits_metric: splits(distance, movingTime, elapsedTime, 1000, elevation),
    splits_standard: splits(distance, movingTime, elapsedTime, 1609.34, elevation),
    laps: [
      {
        id: activity.id * 10 + 1,
        resource_state: 2,
        name: 'Lap 1',
        activity: { id: activity.id, resource_state: 1 },
        athlete: { id: activity.athleteId, resource_state: 1 },
        elapsed_time: elapsedTime,
        moving_time: movingTime,
        start_date: s.start_date,
        start_date_local: s.start_date_local,
        distance,
        start_index: 0,
        end_index: movingTime,
        total_elevation_gain: elevation,
        average_speed: s.average_speed,
        max_speed: s.max_speed,
        device_watts: s.device_watts ?? false,
        average_watts: s.average_watts,
        lap_index: 1,
        split: 1,
      },
    ],
    best_efforts: [],
    gear: gearId ? { id: gearId, primary: true, name: gearId.startsWith('b') ? 'Road bike' : 'Running shoes', nickname: null, resource_state: 2, retired: false, distance: 0, converted_distance: 0 } : null,
    photos: { primary: null, count: 0 },
    stats_visibility: [],
    hide_from_home: false,
    device_name: activity.detailExtra.device_name,
    embed_token: embedToken(activity.id),
    available_zones: [],
  };
}

/**
 * GET /athlete with profile:read_all: swagger's DetailedAthlete (the /athlete example in Strava's swagger.json,
 * resource_state 3): the summary fields plus counts, preferences, clubs, ftp and gear. Without that scope the
 * endpoint answers the summary (resource_state 2), per the endpoint's swagger description.
 */
export function detailedAthleteJson(athlete: AthleteRecord): string {
  const p = athlete.profile;
  const imperial = athlete.home.country === 'United States';
  // The gear ids generated activities carry in gear_id.
  const gearNumber = 1000000 + (athlete.id % 9000000);
  return JSON.stringify({
    ...p,
    resource_state: 3,
    follower_count: (athlete.id % 97) + 3,
    friend_count: (athlete.id % 89) + 2,
    mutual_friend_count: 0,
    athlete_type: athlete.activities.some((a) => a.summary.type === 'Ride') ? 0 : 1,
    date_preference: imperial ? '%m/%d/%Y' : '%d/%m/%Y',
    measurement_preference: imperial ? 'feet' : 'meters',
    clubs: [],
    ftp: null,
    weight: p.weight,
    bikes: [{ id: `b${gearNumber}`, primary: true, name: 'Road bike', resource_state: 2, distance: 0 }],
    shoes: [{ id: `g${gearNumber}`, primary: true, name: 'Running shoes', resource_state: 2, distance: 0 }],
  });
}
