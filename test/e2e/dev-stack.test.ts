import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { createTestDatabase } from '../helpers/database.js';

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

/** Running (a zombie already exited; only its reaping is pending). */
const alive = (pid: number) => {
  const state = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return state !== '' && !state.startsWith('Z');
};

describe('strava-sync dev (npm start)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    dataDir = await mkdtemp(join(tmpdir(), 'strava-sync-dev-'));
  });
  afterAll(async () => {
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('brings up the stack, answers /readyz and the Temporal UI, and Ctrl-C leaves no process behind', async () => {
    const [apiPort, temporalPort, uiPort, emulatorPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dev = spawn(
      process.execPath,
      ['bin/strava-sync.js', 'dev', '--temporal-port', String(temporalPort), '--ui-port', String(uiPort),
        '--emulator-port', String(emulatorPort), '--data-dir', dataDir],
      {
        env: { ...process.env, PORT: String(apiPort), DATABASE_URL: db.url, PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
          WORKER_METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: '', STRAVA_API_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    dev.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => dev.once('exit', resolve));

    const deadline = Date.now() + 90_000;
    while (!output.includes('strava-sync is running') && Date.now() < deadline && dev.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(output, output).toContain('strava-sync is running');

    const ready = await fetch(`http://127.0.0.1:${apiPort}/readyz`);
    expect(ready.status).toBe(200);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);

    const children = descendants(dev.pid!);
    expect(children.length).toBeGreaterThanOrEqual(4); // temporal, emulator, worker, api
    dev.kill('SIGINT');
    expect(await exited).toBe(0);
    // A process still in the middle of exiting is not left behind: give the kernel a moment to reap it.
    for (let i = 0; i < 20 && children.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const leftover = children.filter(alive);
    expect(leftover, spawnSync("ps", ["-o", "pid,ppid,stat,args", "-p", leftover.join(",") || "1"], { encoding: "utf8" }).stdout).toEqual([]);
  }, 180_000);
});
