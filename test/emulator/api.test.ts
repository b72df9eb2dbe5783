import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import type { EmulatorActivity } from '../../src/emulator/control-client.js';
import { apiGet } from './helpers.js';

const NOT_FOUND = '{"message":"Resource Not Found","errors":[{"resource":"Activity","field":"","code":"not found"}]}';
const MISSING_SCOPE = '{"message":"Authorization Error","errors":[{"resource":"AccessToken","field":"activity:read_permission","code":"missing"}]}';
const INVALID_TOKEN = '{"message":"Authorization Error","errors":[{"resource":"Athlete","field":"access_token","code":"invalid"}]}';

const SUMMARY_FIELDS = [
  'id', 'external_id', 'upload_id', 'athlete', 'name', 'distance', 'moving_time', 'elapsed_time', 'total_elevation_gain', 'type', 'sport_type',
  'start_date', 'start_date_local', 'timezone', 'start_latlng', 'end_latlng', 'achievement_count', 'kudos_count', 'comment_count', 'athlete_count',
  'photo_count', 'total_photo_count', 'map', 'trainer', 'commute', 'manual', 'private', 'flagged', 'workout_type', 'average_speed', 'max_speed',
  'gear_id', 'resource_state', 'visibility', 'has_heartrate', 'utc_offset',
];
const DETAIL_FIELDS = ['description', 'calories', 'gear', 'photos', 'laps', 'splits_metric', 'splits_standard', 'segment_efforts', 'best_efforts', 'embed_token', 'device_name'];

// 2024-01-01T00:00:00Z
const BASE_S = 1_704_067_200;
const iso = (s: number) => new Date(s * 1000).toISOString();

let emulator: RunningEmulator;
let athleteId: number;
let readAll: string;
let readOnly: string;
let created: EmulatorActivity[];

beforeAll(async () => {
  emulator = await startEmulator({ seed: 11, rateLimits: { overall: { fifteenMinute: 10_000, daily: 100_000 }, read: { fifteenMinute: 10_000, daily: 100_000 } } });
  athleteId = (await emulator.control.createAthlete()).id;
  // 10 activities, one day apart; every third one "Only You".
  created = [];
  for (let i = 0; i < 10; i++) {
    created.push(await emulator.control.createActivity(athleteId, { start_date: iso(BASE_S + i * 86400), name: `A${i}`, visibility: i % 3 === 0 ? 'only_me' : 'everyone' }));
  }
  readAll = (await emulator.control.issueTokens(athleteId, 'read,activity:read_all')).accessToken;
  // A second authorization narrows the scope: a new token carries only activity:read.
  readOnly = (await emulator.control.issueTokens(athleteId, 'read,activity:read')).accessToken;
});
afterAll(async () => {
  await emulator.close();
});

const names = (json: unknown) => (json as EmulatorActivity[]).map((a) => a.name);

describe('Bearer tokens', () => {
  it('missing or unknown tokens get Strava\'s 401 Fault', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const response = await apiGet(emulator, '/athlete', token);
      expect(response.status).toBe(401);
      expect(response.text).toBe(INVALID_TOKEN);
      expect(response.headers.get('content-type')).toContain('application/json');
    }
  });
});

describe('GET /athlete', () => {
  it('returns the summary athlete of the token', async () => {
    const { status, json } = await apiGet(emulator, '/athlete', readAll);
    expect(status).toBe(200);
    expect(json).toMatchObject({ id: athleteId, resource_state: 2 });
    expect(Object.keys(json as object)).toEqual(expect.arrayContaining(['firstname', 'lastname', 'city', 'country', 'sex', 'premium', 'created_at', 'profile']));
  });
});

describe('GET /athlete/activities', () => {
  it('newest first, default per_page 30, Strava\'s summary fields', async () => {
    const { status, json } = await apiGet(emulator, '/athlete/activities', readAll);
    expect(status).toBe(200);
    expect(names(json)).toEqual(['A9', 'A8', 'A7', 'A6', 'A5', 'A4', 'A3', 'A2', 'A1', 'A0']);
    const first = (json as EmulatorActivity[])[0]!;
    expect(Object.keys(first)).toEqual(expect.arrayContaining(SUMMARY_FIELDS));
    expect(first.resource_state).toBe(2);
    expect(first.athlete).toEqual({ id: athleteId, resource_state: 1 });
    expect(first.id).toBeGreaterThan(2 ** 31);
    expect(first.start_date).toBe(new Date((BASE_S + 9 * 86400) * 1000).toISOString().replace('.000Z', 'Z'));
  });

  it('"Only You" activities are left out without activity:read_all', async () => {
    const { json } = await apiGet(emulator, '/athlete/activities', readOnly);
    expect(names(json)).toEqual(['A8', 'A7', 'A5', 'A4', 'A2', 'A1']);
    expect((json as EmulatorActivity[]).every((a) => a.private === false && a.visibility !== 'only_me')).toBe(true);
  });

  it('pages until an empty page', async () => {
    const pages: string[][] = [];
    for (let page = 1; ; page++) {
      const { json } = await apiGet(emulator, `/athlete/activities?per_page=4&page=${page}`, readAll);
      if ((json as unknown[]).length === 0) break;
      pages.push(names(json));
    }
    expect(pages).toEqual([['A9', 'A8', 'A7', 'A6'], ['A5', 'A4', 'A3', 'A2'], ['A1', 'A0']]);
  });

  it('before/after filter on start_date (exclusive); after gives oldest first', async () => {
    const before = await apiGet(emulator, `/athlete/activities?before=${BASE_S + 3 * 86400}`, readAll);
    expect(names(before.json)).toEqual(['A2', 'A1', 'A0']);
    const after = await apiGet(emulator, `/athlete/activities?after=${BASE_S + 6 * 86400}`, readAll);
    expect(names(after.json)).toEqual(['A7', 'A8', 'A9']);
    const both = await apiGet(emulator, `/athlete/activities?after=${BASE_S + 86400}&before=${BASE_S + 5 * 86400}&per_page=2&page=2`, readAll);
    expect(names(both.json)).toEqual(['A4']);
  });

  it('millisecond timestamps and junk are rejected with 400', async () => {
    for (const query of [`before=${BASE_S * 1000}`, `after=${BASE_S * 1000}`, 'after=yesterday', 'page=x']) {
      const response = await apiGet(emulator, `/athlete/activities?${query}`, readAll);
      expect(response.status, query).toBe(400);
      expect((response.json as { message: string }).message).toBe('Bad Request');
    }
  });

  it('per_page is capped at 200', async () => {
    const big = (await emulator.control.createAthlete({ activities: 250 })).id;
    const token = (await emulator.control.issueTokens(big)).accessToken;
    const { json } = await apiGet(emulator, '/athlete/activities?per_page=500', token);
    expect((json as unknown[]).length).toBe(200);
    const second = await apiGet(emulator, '/athlete/activities?per_page=200&page=2', token);
    expect((second.json as unknown[]).length).toBe(50);
  });

  it('401 activity:read_permission missing when the token has no activity scope', async () => {
    const profileOnly = (await emulator.control.issueTokens(athleteId, 'read')).accessToken;
    const list = await apiGet(emulator, '/athlete/activities', profileOnly);
    expect(list.status).toBe(401);
    expect(list.text).toBe(MISSING_SCOPE);
    const one = await apiGet(emulator, `/activities/${created[1]!.id}`, profileOnly);
    expect(one.status).toBe(401);
    expect(one.text).toBe(MISSING_SCOPE);
    expect((await apiGet(emulator, '/athlete', profileOnly)).status).toBe(200);
  });
});

describe('GET /activities/{id}', () => {
  it('returns a DetailedActivity', async () => {
    const { status, json } = await apiGet(emulator, `/activities/${created[1]!.id}`, readAll);
    expect(status).toBe(200);
    const detail = json as Record<string, unknown>;
    expect(detail.resource_state).toBe(3);
    expect(Object.keys(detail)).toEqual(expect.arrayContaining([...SUMMARY_FIELDS, ...DETAIL_FIELDS]));
    expect(detail.name).toBe('A1');
  });

  it('404 Fault for unknown, deleted, another athlete\'s, and "Only You" without activity:read_all', async () => {
    const victim = await emulator.control.createActivity(athleteId, { start_date: iso(BASE_S - 86400) });
    await emulator.control.deleteActivity(victim.id);
    const other = await emulator.control.createAthlete({ activities: 1 });
    const otherActivity = (await emulator.control.groundTruth(other.id, { readAll: true }))[0]!;
    const cases: [number, string][] = [
      [99, readAll],
      [victim.id, readAll],
      [otherActivity.id, readAll],
      [created[0]!.id, readOnly],
    ];
    for (const [id, token] of cases) {
      const response = await apiGet(emulator, `/activities/${id}`, token);
      expect(response.status, String(id)).toBe(404);
      expect(response.text).toBe(NOT_FOUND);
    }
    expect((await apiGet(emulator, `/activities/${created[0]!.id}`, readAll)).status).toBe(200);
  });

  it('a "still processing" create answers 404 until processing ends (emulator clock)', async () => {
    const fresh = await emulator.control.createActivity(athleteId, {}, { processingMs: 60_000 });
    expect((await apiGet(emulator, `/activities/${fresh.id}`, readAll)).status).toBe(404);
    const listedIds = async () => ((await apiGet(emulator, '/athlete/activities?per_page=200', readAll)).json as EmulatorActivity[]).map((a) => a.id);
    expect(await listedIds()).not.toContain(fresh.id);
    await emulator.control.advanceClock(61_000);
    expect((await apiGet(emulator, `/activities/${fresh.id}`, readAll)).status).toBe(200);
    expect(await listedIds()).toContain(fresh.id);
  });

  it('updates and privacy changes are visible through the API', async () => {
    const target = created[2]!;
    await emulator.control.updateActivity(target.id, { name: 'Renamed', sport_type: 'TrailRun' });
    const detail = (await apiGet(emulator, `/activities/${target.id}`, readOnly)).json as Record<string, unknown>;
    expect(detail).toMatchObject({ name: 'Renamed', sport_type: 'TrailRun', type: 'Run' });
    await emulator.control.updateActivity(target.id, { private: true });
    expect((await apiGet(emulator, `/activities/${target.id}`, readOnly)).status).toBe(404);
    const hidden = (await apiGet(emulator, `/activities/${target.id}`, readAll)).json as Record<string, unknown>;
    expect(hidden).toMatchObject({ private: true, visibility: 'only_me' });
    await emulator.control.updateActivity(target.id, { visibility: 'followers_only' });
    expect((await apiGet(emulator, `/activities/${target.id}`, readOnly)).json).toMatchObject({ private: false, visibility: 'followers_only' });
  });
});

describe('list pages after changes', () => {
  it('reflect creates, updates and deletes immediately (no stale cached page)', async () => {
    const athlete = (await emulator.control.createAthlete({ activities: 5 })).id;
    const token = (await emulator.control.issueTokens(athlete)).accessToken;
    const list = async () => (await apiGet(emulator, '/athlete/activities?per_page=200', token)).json as EmulatorActivity[];
    const first = await list();
    expect(first).toHaveLength(5);
    await emulator.control.updateActivity(first[0]!.id, { name: 'Changed' });
    expect((await list())[0]!.name).toBe('Changed');
    await emulator.control.deleteActivity(first[1]!.id);
    expect((await list()).map((a) => a.id)).not.toContain(first[1]!.id);
    const added = await emulator.control.createActivity(athlete);
    expect((await list())[0]!.id).toBe(added.id);
  });
});

describe('ground truth', () => {
  it('matches what a full listing returns for the token\'s scope', async () => {
    const listAll = async (token: string) => {
      const out: EmulatorActivity[] = [];
      for (let page = 1; ; page++) {
        const json = (await apiGet(emulator, `/athlete/activities?per_page=200&page=${page}`, token)).json as EmulatorActivity[];
        if (json.length === 0) return out;
        out.push(...json);
      }
    };
    expect(await emulator.control.groundTruth(athleteId, { readAll: true })).toEqual(await listAll(readAll));
    expect(await emulator.control.groundTruth(athleteId, { readAll: false })).toEqual(await listAll(readOnly));
  });
});
