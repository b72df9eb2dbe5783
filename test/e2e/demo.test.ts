import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Demo, type DemoChange, type DemoChangeKind } from '../../src/dev/demo.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { mulberry32 } from '../../src/emulator/prng.js';
import { getAthlete } from '../../src/db/repositories/athletes.js';
import { athleteWorkflowId } from '../../src/temporal/athlete-gateway.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectDevServer, type DevServerHandles } from '../helpers/temporal.js';
import { eventually, startApi, startWorker, uniqueAthleteId, type ApiHarness } from '../api/helpers/api-harness.js';

const db = useTestDatabase();

interface PageBody {
  activities: { id: number; name: string }[];
  nextCursor: string | null;
}

describe('the npm start demo', () => {
  let dev: DevServerHandles;
  let emulator: RunningEmulator;
  let api: ApiHarness;
  let worker: { stop(): Promise<void> };
  let demo: Demo;

  beforeAll(async () => {
    [dev, emulator] = await Promise.all([connectDevServer(), startEmulator({ seed: 21 })]);
    api = await startApi({ db, dev, emulator, relay: true });
    worker = await startWorker(api, dev, db.sql, emulator);
    // The emulator's webhooks go to this API, as npm start arranges it.
    expect((await api.fetch('/admin/subscription?replace=true', { method: 'POST', admin: true })).status).toBeLessThan(300);
    demo = new Demo({ emulator: emulator.control, apiUrl: api.url, athletes: 2, activitiesPerAthlete: 30,
      random: mulberry32(5), newAthleteId: uniqueAthleteId });
  });
  afterAll(async () => {
    for (const { id } of demo?.athletes ?? []) await dev.client.workflow.getHandle(athleteWorkflowId(id)).terminate('test done').catch(() => {});
    await worker?.stop();
    await api?.stop();
    await emulator?.close();
    await dev?.close();
  });

  async function syncedActivities(athleteId: number): Promise<{ id: number; name: string }[]> {
    const response = await api.fetch(`/athletes/${athleteId}/activities?limit=200`, { admin: true });
    expect(response.status).toBe(200);
    return ((await response.json()) as PageBody).activities.map(({ id, name }) => ({ id, name }));
  }

  async function truth(athleteId: number): Promise<{ id: number; name: string }[]> {
    return (await emulator.control.groundTruth(athleteId)).map(({ id, name }) => ({ id, name }));
  }

  it('connects its athletes through the OAuth flow (API /auth/strava, the consent page, the callback), so their import runs', async () => {
    const athletes = await demo.connectAthletes();
    expect(athletes).toHaveLength(2);
    for (const { id } of athletes) {
      expect((await getAthlete(db.sql, id))?.state).not.toBe('revoked');
      expect((await emulator.control.getAthlete(id)).connected).toBe(true);
      const expected = await truth(id);
      expect(expected).toHaveLength(30);
      await eventually(async () => ((await syncedActivities(id)).length === 30 ? true : undefined), 60_000, `athlete ${id}'s import`);
    }
  }, 90_000);

  it('each change (create, edit, delete, privacy flip) lands in the emulator, and the API syncs them all', async () => {
    const changes: DemoChange[] = [];
    for (let i = 0; i < 12; i++) {
      const before = new Map<number, Awaited<ReturnType<typeof emulator.control.groundTruth>>>();
      for (const { id } of demo.athletes) before.set(id, await emulator.control.groundTruth(id, { readAll: true }));
      const change = await demo.step();
      changes.push(change);
      const after = await emulator.control.groundTruth(change.athleteId, { readAll: true });
      const was = before.get(change.athleteId)!.find((activity) => activity.id === change.activityId);
      const now = after.find((activity) => activity.id === change.activityId);
      if (change.kind === 'create') {
        expect(was).toBeUndefined();
        expect(now).toBeDefined();
      } else if (change.kind === 'delete') {
        expect(was).toBeDefined();
        expect(now).toBeUndefined();
      } else if (change.kind === 'edit') {
        expect(now?.name).not.toBe(was?.name);
        expect(change.summary).toContain(`to "${now?.name}"`);
      } else {
        expect(now?.private).toBe(!was?.private);
      }
    }
    const kinds = new Set<DemoChangeKind>(changes.map((change) => change.kind));
    expect([...kinds].sort()).toEqual(['create', 'delete', 'edit', 'privacy']);

    // Everything the demo did reached the database through webhooks and the athletes' workflows.
    for (const { id } of demo.athletes) {
      const expected = await truth(id);
      // The difference (missing from the database, or extra/stale in it), so a failed wait shows what did not sync.
      const key = ({ id, name }: { id: number; name: string }) => `${id}:${name}`;
      const wanted = new Set(expected.map(key));
      await waitFor(async () => {
        const synced = new Set((await syncedActivities(id)).map(key));
        return { missing: [...wanted].filter((k) => !synced.has(k)), extra: [...synced].filter((k) => !wanted.has(k)) };
      }, (diff) => diff.missing.length === 0 && diff.extra.length === 0, 60_000, 200);
    }
  }, 120_000);

  it('run() prints one line per change and stops cleanly', async () => {
    const lines: string[] = [];
    const running = demo.run(50, (line) => lines.push(line));
    await eventually(async () => (lines.length >= 3 ? true : undefined), 10_000, 'three changes');
    await running.stop();
    const count = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 300)); // six intervals: a change after stop() would show here
    expect(lines).toHaveLength(count);
    expect(lines.every((line) => !line.includes('\n') && / \(\d+/.test(line))).toBe(true);
  });
});
