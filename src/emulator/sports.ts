/**
 * Sport profiles for generated activities: how common each sport is and the ranges that keep the numbers
 * coherent (distance = moving time x speed, elevation proportional to distance, indoor sports without GPS).
 */
export interface SportProfile {
  sportType: string;
  /** The deprecated `type` Strava still sends (and uses in webhook `updates.type`). */
  type: string;
  weight: number;
  /** Average moving speed range in m/s; 0 means no distance (strength, yoga). */
  speed: readonly [number, number];
  movingTime: readonly [number, number];
  climbPerKm: number;
  indoor: boolean;
  power: boolean;
  noun: string;
}

export const SPORTS: readonly SportProfile[] = [
  { sportType: 'Run', type: 'Run', weight: 30, speed: [2.5, 4.2], movingTime: [1200, 5400], climbPerKm: 8, indoor: false, power: false, noun: 'Run' },
  { sportType: 'TrailRun', type: 'Run', weight: 4, speed: [1.8, 3.2], movingTime: [1800, 10800], climbPerKm: 35, indoor: false, power: false, noun: 'Trail Run' },
  { sportType: 'Ride', type: 'Ride', weight: 22, speed: [6, 10], movingTime: [2400, 14400], climbPerKm: 10, indoor: false, power: true, noun: 'Ride' },
  { sportType: 'GravelRide', type: 'Ride', weight: 3, speed: [5.5, 8.5], movingTime: [3600, 14400], climbPerKm: 12, indoor: false, power: true, noun: 'Gravel Ride' },
  { sportType: 'MountainBikeRide', type: 'Ride', weight: 3, speed: [3.5, 6.5], movingTime: [2400, 10800], climbPerKm: 25, indoor: false, power: true, noun: 'Mountain Bike Ride' },
  { sportType: 'VirtualRide', type: 'VirtualRide', weight: 8, speed: [7, 11], movingTime: [1800, 5400], climbPerKm: 8, indoor: true, power: true, noun: 'Virtual Ride' },
  { sportType: 'Walk', type: 'Walk', weight: 12, speed: [1.1, 1.6], movingTime: [1200, 5400], climbPerKm: 5, indoor: false, power: false, noun: 'Walk' },
  { sportType: 'Hike', type: 'Hike', weight: 6, speed: [0.8, 1.4], movingTime: [3600, 21600], climbPerKm: 60, indoor: false, power: false, noun: 'Hike' },
  { sportType: 'Swim', type: 'Swim', weight: 5, speed: [0.6, 1.2], movingTime: [1200, 3600], climbPerKm: 0, indoor: false, power: false, noun: 'Swim' },
  { sportType: 'Rowing', type: 'Rowing', weight: 1, speed: [3, 4.5], movingTime: [1200, 3600], climbPerKm: 0, indoor: false, power: false, noun: 'Row' },
  { sportType: 'WeightTraining', type: 'WeightTraining', weight: 4, speed: [0, 0], movingTime: [1800, 5400], climbPerKm: 0, indoor: true, power: false, noun: 'Weight Training' },
  { sportType: 'Yoga', type: 'Yoga', weight: 2, speed: [0, 0], movingTime: [1800, 4500], climbPerKm: 0, indoor: true, power: false, noun: 'Yoga' },
];

export const SPORT_WEIGHTS = SPORTS.map((sport) => [sport, sport.weight] as const);

const BY_SPORT_TYPE = new Map(SPORTS.map((sport) => [sport.sportType, sport]));

/** Strava's sport_type values the emulator generates data for (others get a randomly picked profile's numbers). */
export function sportProfile(sportType: string): SportProfile | undefined {
  return BY_SPORT_TYPE.get(sportType);
}

/**
 * Strava's legacy ActivityType enum (swagger activity.json#/ActivityType, as generated into stravalib's
 * strava_model.py). The deprecated `type` field, and webhook `updates.type`, only ever carry these values.
 */
export const ACTIVITY_TYPES: ReadonlySet<string> = new Set([
  'AlpineSki', 'BackcountrySki', 'Canoeing', 'Crossfit', 'EBikeRide', 'Elliptical', 'Golf', 'Handcycle', 'Hike',
  'IceSkate', 'InlineSkate', 'Kayaking', 'Kitesurf', 'NordicSki', 'Ride', 'RockClimbing', 'RollerSki', 'Rowing', 'Run',
  'Sail', 'Skateboard', 'Snowboard', 'Snowshoe', 'Soccer', 'StairStepper', 'StandUpPaddling', 'Surfing', 'Swim',
  'Velomobile', 'VirtualRide', 'VirtualRun', 'Walk', 'WeightTraining', 'Wheelchair', 'Windsurf', 'Workout', 'Yoga',
]);

/**
 * The sport types of swagger's SportType enum that ActivityType lacks, and the `type` Strava sends for them.
 * The swagger states two ("Ride for MountainBikeRide, EBikeRide for EMountainBikeRide"); GravelRide, TrailRun and
 * VirtualRow follow the same parent-sport rule; the racket sports, HIIT and Pilates have no parent in the legacy
 * enum and map to Workout (UNCONFIRMED: no recorded response found for them).
 */
export const LEGACY_TYPE_OF_NEW_SPORT: Readonly<Record<string, string>> = {
  MountainBikeRide: 'Ride',
  GravelRide: 'Ride',
  EMountainBikeRide: 'EBikeRide',
  TrailRun: 'Run',
  VirtualRow: 'Rowing',
  HighIntensityIntervalTraining: 'Workout',
  Pilates: 'Workout',
  Badminton: 'Workout',
  Pickleball: 'Workout',
  Racquetball: 'Workout',
  Squash: 'Workout',
  TableTennis: 'Workout',
  Tennis: 'Workout',
};

/** The deprecated `type` for a sport_type: itself when the legacy enum has it, its parent otherwise, else Workout. */
export function legacyType(sportType: string): string {
  if (ACTIVITY_TYPES.has(sportType)) return sportType;
  return LEGACY_TYPE_OF_NEW_SPORT[sportType] ?? 'Workout';
}

export const TIMEZONES: readonly { name: string; offsetS: number; lat: number; lng: number; city: string; state: string; country: string }[] = [
  { name: '(GMT+01:00) Europe/Paris', offsetS: 3600, lat: 48.8566, lng: 2.3522, city: 'Paris', state: 'Île-de-France', country: 'France' },
  { name: '(GMT+00:00) Europe/London', offsetS: 0, lat: 51.5072, lng: -0.1276, city: 'London', state: 'England', country: 'United Kingdom' },
  { name: '(GMT-08:00) America/Los_Angeles', offsetS: -28800, lat: 37.7749, lng: -122.4194, city: 'San Francisco', state: 'CA', country: 'United States' },
  { name: '(GMT-05:00) America/New_York', offsetS: -18000, lat: 40.7128, lng: -74.006, city: 'New York', state: 'NY', country: 'United States' },
  { name: '(GMT-07:00) America/Denver', offsetS: -25200, lat: 40.015, lng: -105.2705, city: 'Boulder', state: 'CO', country: 'United States' },
  { name: '(GMT+01:00) Europe/Berlin', offsetS: 3600, lat: 52.52, lng: 13.405, city: 'Berlin', state: 'Berlin', country: 'Germany' },
  { name: '(GMT+10:00) Australia/Sydney', offsetS: 36000, lat: -33.8688, lng: 151.2093, city: 'Sydney', state: 'NSW', country: 'Australia' },
  { name: '(GMT+09:00) Asia/Tokyo', offsetS: 32400, lat: 35.6762, lng: 139.6503, city: 'Tokyo', state: 'Tokyo', country: 'Japan' },
];

export const FIRST_NAMES = ['Ana', 'Ben', 'Chloé', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kara', 'Liam', 'Maya', 'Noah', 'Olga', 'Pablo', 'Quinn', 'Rosa', 'Sven', 'Tara'];
export const LAST_NAMES = ['Almeida', 'Brown', 'Chen', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Hughes', 'Ito', 'Jensen', 'Kowalski', 'Lopez', 'Müller', 'Nguyen', 'Okafor', 'Petit', 'Rossi', 'Smith', 'Tanaka', 'Weber'];
export const CUSTOM_NAMES = ['Easy spin', 'Tempo intervals', 'Long slow distance', 'Recovery', 'Hill repeats', 'Commute home', 'Group ride', 'Race day!', 'Sunday long one', 'Exploring new trails'];
