/**
 * Seeded generation of athletes and their activity histories. Numbers are coherent (distance = moving time x
 * average speed, max speed above average, elevation range within the climb, kilojoules from watts), sports and
 * privacy follow a realistic mix; 100 athletes x 1,000 activities took 1.8 s in bench/emulator/RESULTS.md.
 */
import type { ActivityRecord, AthleteRecord, Visibility } from './model.js';
import { encodePolyline } from './polyline.js';
import { pick, pickWeighted, randomHex, randomInt, type Random } from './prng.js';
import { CUSTOM_NAMES, FIRST_NAMES, LAST_NAMES, SPORT_WEIGHTS, TIMEZONES, legacyType, sportProfile, type SportProfile } from './sports.js';

const VISIBILITY_MIX: readonly (readonly [Visibility, number])[] = [
  ['everyone', 75],
  ['followers_only', 15],
  ['only_me', 10],
];

const YEAR_S = 365 * 24 * 3600;

export function isoSeconds(epochS: number): string {
  return new Date(epochS * 1000).toISOString().replace('.000Z', 'Z');
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const between = (random: Random, [min, max]: readonly [number, number]) => min + random() * (max - min);

export interface AthleteOverrides {
  firstname?: string;
  lastname?: string;
  username?: string;
  sex?: 'M' | 'F';
  premium?: boolean;
}

export function generateAthlete(random: Random, id: number, nowMs: number, overrides: AthleteOverrides = {}): AthleteRecord {
  const zone = pick(random, TIMEZONES);
  const firstname = overrides.firstname ?? pick(random, FIRST_NAMES);
  const lastname = overrides.lastname ?? pick(random, LAST_NAMES);
  const createdS = Math.floor(nowMs / 1000) - randomInt(random, 4 * YEAR_S, 10 * YEAR_S);
  const premium = overrides.premium ?? random() < 0.3;
  const profile: Record<string, unknown> = {
    id,
    username: overrides.username ?? `${firstname}${lastname}${id % 1000}`.toLowerCase().normalize('NFD').replace(/[^a-z0-9]/g, ''),
    resource_state: 2,
    firstname,
    lastname,
    bio: '',
    city: zone.city,
    state: zone.state,
    country: zone.country,
    sex: overrides.sex ?? (random() < 0.5 ? 'M' : 'F'),
    premium,
    summit: premium,
    created_at: isoSeconds(createdS),
    updated_at: isoSeconds(createdS + randomInt(random, 0, 3 * YEAR_S)),
    badge_type_id: premium ? 1 : 0,
    weight: round(between(random, [50, 95]), 1),
    profile_medium: `https://dgalywyr863hv.cloudfront.net/pictures/athletes/${id}/medium.jpg`,
    profile: `https://dgalywyr863hv.cloudfront.net/pictures/athletes/${id}/large.jpg`,
    friend: null,
    follower: null,
  };
  return {
    id,
    profile,
    timezone: { name: zone.name, offsetS: zone.offsetS },
    home: { lat: zone.lat + (random() - 0.5) * 0.2, lng: zone.lng + (random() - 0.5) * 0.2, city: zone.city, state: zone.state, country: zone.country },
    activities: [],
    listCache: new Map(),
    processingUntilMs: 0,
  };
}

function defaultName(sport: SportProfile, localHour: number, random: Random): string {
  if (random() < 0.15) return pick(random, CUSTOM_NAMES);
  const part = localHour >= 5 && localHour < 11 ? 'Morning' : localHour < 14 && localHour >= 11 ? 'Lunch' : localHour >= 14 && localHour < 18 ? 'Afternoon' : localHour >= 18 && localHour < 22 ? 'Evening' : 'Night';
  return `${part} ${sport.noun}`;
}

/** A route: a loop of a few points around the athlete's home, scaled to the distance. */
function route(random: Random, home: AthleteRecord['home'], distanceM: number): [number, number][] {
  const startLat = home.lat + (random() - 0.5) * 0.02;
  const startLng = home.lng + (random() - 0.5) * 0.02;
  const radiusDeg = Math.min(distanceM / 6.3 / 111_000, 1);
  const heading = random() * Math.PI * 2;
  const points: [number, number][] = [];
  for (let i = 0; i <= 8; i++) {
    const angle = heading + (i / 8) * Math.PI * 2;
    points.push([round(startLat + radiusDeg * (Math.sin(angle) - Math.sin(heading)), 6), round(startLng + radiusDeg * (Math.cos(angle) - Math.cos(heading)), 6)]);
  }
  return points;
}

export interface ActivityInit {
  id: number;
  startS: number;
  sportType?: string;
  name?: string;
  visibility?: Visibility;
  availableAtMs?: number;
}

export function generateActivity(random: Random, athlete: AthleteRecord, init: ActivityInit): ActivityRecord {
  const sport = (init.sportType && sportProfile(init.sportType)) || pickWeighted(random, SPORT_WEIGHTS);
  const sportType = init.sportType ?? sport.sportType;
  const movingTime = randomInt(random, sport.movingTime[0], sport.movingTime[1]);
  const elapsedTime = movingTime + Math.floor(movingTime * random() * 0.25);
  const averageSpeed = sport.speed[1] > 0 ? round(between(random, sport.speed), 3) : 0;
  const distance = round(movingTime * averageSpeed, 1);
  const maxSpeed = averageSpeed > 0 ? round(averageSpeed * between(random, [1.3, 2.0]), 3) : 0;
  const elevationGain = round((distance / 1000) * sport.climbPerKm * between(random, [0.5, 1.5]), 1);
  const hasGps = !sport.indoor && distance > 0;
  const elevLow = hasGps ? round(between(random, [0, 400]), 1) : undefined;
  const elevHigh = elevLow === undefined ? undefined : round(elevLow + elevationGain * between(random, [0.3, 0.8]), 1);
  const hasHeartrate = random() < 0.6;
  const averageHeartrate = hasHeartrate ? round(between(random, [115, 165]), 1) : undefined;
  const visibility = init.visibility ?? pickWeighted(random, VISIBILITY_MIX);
  const localHour = Math.floor((((init.startS + athlete.timezone.offsetS) % 86400) + 86400) % 86400 / 3600);
  const points = hasGps ? route(random, athlete.home, distance) : [];
  const polyline = hasGps ? encodePolyline(points) : '';
  const withPower = sport.power && random() < 0.5;
  const averageWatts = withPower ? round(between(random, [130, 260]), 1) : undefined;
  const kilojoules = averageWatts === undefined ? undefined : round((averageWatts * movingTime) / 1000, 1);
  const uploadId = init.id + 1_000_000_000 + randomInt(random, 0, 999);
  const deviceName = sport.indoor ? (sport.sportType === 'VirtualRide' ? 'Zwift' : 'Strava App') : pick(random, ['Garmin Forerunner 265', 'Garmin Edge 540', 'Wahoo ELEMNT BOLT', 'Apple Watch Ultra', 'COROS PACE 3', 'Strava App']);
  const name = init.name ?? defaultName(sport, localHour, random);
  const summary: Record<string, unknown> = {
    resource_state: 2,
    athlete: { id: athlete.id, resource_state: 1 },
    name,
    distance,
    moving_time: movingTime,
    elapsed_time: elapsedTime,
    total_elevation_gain: elevationGain,
    type: legacyType(sportType),
    sport_type: sportType,
    workout_type: sport.type === 'Run' ? pick(random, [0, 0, 0, 1, 2, 3]) : sport.type === 'Ride' ? pick(random, [10, 10, 11, 12]) : null,
    id: init.id,
    start_date: isoSeconds(init.startS),
    start_date_local: isoSeconds(init.startS + athlete.timezone.offsetS),
    timezone: athlete.timezone.name,
    utc_offset: athlete.timezone.offsetS,
    location_city: null,
    location_state: null,
    location_country: athlete.home.country,
    achievement_count: randomInt(random, 0, 4),
    kudos_count: randomInt(random, 0, 40),
    comment_count: randomInt(random, 0, 3),
    athlete_count: random() < 0.8 ? 1 : randomInt(random, 2, 8),
    photo_count: 0,
    map: { id: `a${init.id}`, summary_polyline: polyline, resource_state: 2 },
    trainer: sport.indoor && sport.speed[1] > 0,
    commute: !sport.indoor && random() < 0.05,
    manual: !hasGps && !sport.indoor && random() < 0.5,
    private: visibility === 'only_me',
    visibility,
    flagged: false,
    gear_id: sport.type === 'Ride' || sport.type === 'Run' ? `${sport.type === 'Ride' ? 'b' : 'g'}${1000000 + (athlete.id % 9000000)}` : null,
    start_latlng: hasGps ? points[0] : [],
    end_latlng: hasGps ? points[points.length - 1] : [],
    average_speed: averageSpeed,
    max_speed: maxSpeed,
    ...(averageWatts !== undefined
      ? { average_watts: averageWatts, kilojoules, device_watts: true, max_watts: Math.round(averageWatts * between(random, [2.5, 4])), weighted_average_watts: Math.round(averageWatts * between(random, [1.03, 1.15])) }
      : {}),
    has_heartrate: hasHeartrate,
    ...(averageHeartrate !== undefined ? { average_heartrate: averageHeartrate, max_heartrate: Math.round(averageHeartrate + between(random, [12, 35])) } : {}),
    heartrate_opt_out: false,
    display_hide_heartrate_option: hasHeartrate,
    ...(elevLow !== undefined ? { elev_high: elevHigh, elev_low: elevLow } : {}),
    upload_id: uploadId,
    upload_id_str: String(uploadId),
    external_id: `${randomHex(random, 16)}.fit`,
    from_accepted_tag: false,
    pr_count: randomInt(random, 0, 2),
    total_photo_count: 0,
    has_kudoed: false,
  };
  const calories = kilojoules !== undefined ? round(kilojoules * 1.05, 1) : round((movingTime / 60) * between(random, [6, 12]), 1);
  const detailExtra: Record<string, unknown> = {
    description: random() < 0.3 ? pick(random, ['Felt strong today', 'Windy!', 'Legs were tired', 'New PR on the climb', '']) : null,
    calories,
    device_name: deviceName,
    // The detailed polyline is the same loop as the summary one: generated routes are coarse already.
    polyline,
  };
  return { id: init.id, athleteId: athlete.id, startS: init.startS, visibility, availableAtMs: init.availableAtMs ?? 0, summary, detailExtra };
}

/**
 * Appends `count` activities spread over the last `years` years (newest ending an hour before now), sorted by
 * start date; ids increase with start date like Strava's.
 */
export function generateHistory(
  random: Random,
  athlete: AthleteRecord,
  count: number,
  nowMs: number,
  nextId: () => number,
  years = 3,
): ActivityRecord[] {
  const endS = Math.floor(nowMs / 1000) - 3600;
  const spanS = Math.floor(years * YEAR_S);
  const starts = new Float64Array(count);
  for (let i = 0; i < count; i++) starts[i] = endS - Math.floor(random() * spanS);
  starts.sort();
  const created: ActivityRecord[] = [];
  for (let i = 0; i < count; i++) {
    const activity = generateActivity(random, athlete, { id: nextId(), startS: starts[i]! });
    created.push(activity);
  }
  return created;
}
