import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { createTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** Every descendant pid of a process (the supervisor's children and theirs). */
function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Processes whose command line mentions dir (PostgreSQL's postmaster names its data directory). */
function processesUsing(dir: string): string[] {
  const out = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((line) => line.includes(dir) && !/^\s*\d+\s+Z/.test(line) && !line.includes('ps -eo'));
}

/** Running (a zombie already exited; only its reaping is pending). */
const alive = (pid: number) => {
  const state = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return state !== '' && !state.startsWith('Z');
};

interface DevRun {
  output(): string;
  /** Resolves once the output contains text (or the process exits or time runs out). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Ctrl-C, then checks the exit code and that every process it started is gone. */
  stopLeavingNothing(): Promise<void>;
}

async function startDev(args: string[], env: NodeJS.ProcessEnv): Promise<DevRun> {
  const dev = spawn(process.execPath, ['bin/strava-sync.js', 'dev', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  dev.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  dev.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));
  const found = (text: string | RegExp) => (typeof text === 'string' ? output.includes(text) : text.test(output));
  return {
    output: () => output,
    async waitFor(text, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (!found(text) && Date.now() < deadline && dev.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 250));
      expect(found(text), `waiting for ${String(text)} in:\n${output}`).toBe(true);
    },
    async stopLeavingNothing() {
      const children = descendants(dev.pid!);
      expect(children.length).toBeGreaterThanOrEqual(4);
      dev.kill('SIGINT');
      expect(await exited).toBe(0);
      // A process still in the middle of exiting is not left behind: give the kernel a moment to reap it.
      for (let i = 0; i < 20 && children.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const leftover = children.filter(alive);
      expect(leftover, spawnSync('ps', ['-o', 'pid,ppid,stat,args', '-p', leftover.join(',') || '1'], { encoding: 'utf8' }).stdout).toEqual([]);
    },
  };
}

describe('strava-sync dev (npm start)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    dataDir = await mkdtemp(join(tmpdir(), 'strava-sync-dev-'));
    // As root the embedded PostgreSQL runs as an unprivileged user, which must be able to enter the data directory.
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('brings up the stack on the given DATABASE_URL, answers /readyz and the Temporal UI, and Ctrl-C leaves no process behind', async () => {
    const [apiPort, temporalPort, uiPort, emulatorPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dev = await startDev(
      ['--temporal-port', String(temporalPort), '--ui-port', String(uiPort), '--emulator-port', String(emulatorPort),
        '--data-dir', dataDir, '--no-demo'],
      { ...process.env, PORT: String(apiPort), DATABASE_URL: db.url, PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
        WORKER_METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: '', STRAVA_API_URL: '' },
    );
    await dev.waitFor('strava-sync is running');
    expect(dev.output()).toContain(`dev: using PostgreSQL at DATABASE_URL ${db.url}`);

    const ready = await fetch(`http://127.0.0.1:${apiPort}/readyz`);
    expect(ready.status).toBe(200);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    expect(dev.output()).not.toContain('[demo]');
    await dev.stopLeavingNothing();
  }, 180_000);

  it('without DATABASE_URL and nothing at the default address: runs an embedded PostgreSQL, the demo connects athletes and its changes sync, and Ctrl-C stops it all', async () => {
    const [apiPort, temporalPort, uiPort, emulatorPort, postgresPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(apiPort), PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      WORKER_METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: '', STRAVA_API_URL: '' };
    delete env.DATABASE_URL;
    // "Nothing answers at the default address": aimed at a free port, so the machine's own PostgreSQL stays untouched.
    const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/strava_sync`;
    const dev = await startDev(
      ['--temporal-port', String(temporalPort), '--ui-port', String(uiPort), '--emulator-port', String(emulatorPort),
        '--postgres-port', String(postgresPort), '--default-database-url', nowhere, '--data-dir', dataDir, '--demo-every', '1'],
      env,
    );
    await dev.waitFor('strava-sync is running');
    expect(dev.output()).toContain(`dev: using embedded PostgreSQL 18 at postgres://postgres@127.0.0.1:${postgresPort}/strava_sync (nothing answered at ${nowhere}`);
    const pgData = join(dataDir, 'postgres');
    expect(processesUsing(pgData).length).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status).toBe(200);

    // The demo's athletes were connected through /auth/strava, and a change it makes reaches the activities API.
    const connected = /dev: demo connected (.+) through /.exec(dev.output())?.[1] ?? '';
    const ids = new Map([...connected.matchAll(/([^,]+?) \((\d+)\)/g)].map((match) => [match[1]!.trim(), Number(match[2])]));
    expect(ids.size).toBe(3);
    const recorded = /\[demo\] (.+?) recorded ".*" \((\d+),/;
    await dev.waitFor(recorded, 60_000);
    const [, name, activityId] = recorded.exec(dev.output())!;
    const athleteId = ids.get(name!);
    expect(athleteId, name).toBeDefined();
    const activities = async () => {
      const response = await fetch(`http://127.0.0.1:${apiPort}/athletes/${athleteId}/activities?limit=200`, { headers: { authorization: 'Bearer dev-admin-key' } });
      return ((await response.json()) as { activities: { id: number }[] }).activities.map(({ id }) => id);
    };
    await waitFor(activities, (list) => list.includes(Number(activityId)), 60_000, 250);

    await dev.stopLeavingNothing();
    expect(processesUsing(pgData)).toEqual([]);
    expect(dev.output()).not.toMatch(/\[postgres\].*(FATAL|PANIC)/);
  }, 240_000);
});
