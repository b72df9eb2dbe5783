import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { choosePostgres, describePostgres } from '../../src/dev/choose-postgres.js';
import { postgresAnswers, startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { createSql } from '../../src/db/connection.js';
import { SERVER_URL } from '../helpers/database.js';

/** Processes whose command line mentions dir (the postmaster and every backend it forked). */
function processesUsing(dir: string): string[] {
  const out = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((line) => line.includes(dir) && !/^\s*\d+\s+Z/.test(line) && !line.includes('ps -eo'));
}

describe('embedded PostgreSQL', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strava-sync-embedded-pg-'));
    // As root the server runs as an unprivileged user, which must be able to enter the data directory's parents.
    await chmod(root, 0o755);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('initialises a cluster, serves queries, stops leaving no process, and reuses its data on the next start', async () => {
    const dataDir = join(root, 'reuse');
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, throwAway: true });
    expect(first.initialised).toBe(true);
    expect(first.user).toBe(userInfo().uid === 0 ? 'nobody' : userInfo().username);
    const sql = createSql(first.urlFor('postgres'), { max: 1 });
    await sql`create table kept (value text)`;
    await sql`insert into kept values ('survives a restart')`;
    const [row] = await sql<{ user: string }[]>`select current_user as user`;
    expect(row?.user).toBe('postgres');
    await sql.end();
    expect(processesUsing(dataDir).length).toBeGreaterThan(0);

    await first.stop();
    expect(first.process.exitCode ?? first.process.signalCode).not.toBeNull();
    expect(processesUsing(dataDir)).toEqual([]);
    expect(await postgresAnswers(first.urlFor('postgres'))).toBe(false);

    const second = await startEmbeddedPostgres({ dataDir, port, throwAway: true });
    try {
      expect(second.initialised).toBe(false);
      const again = createSql(second.urlFor('postgres'), { max: 1 });
      expect(await again`select value from kept`).toEqual([{ value: 'survives a restart' }]);
      await again.end();
    } finally {
      await second.stop();
    }
    expect(processesUsing(dataDir)).toEqual([]);
  });

  it('refuses to start a second server on a data directory still in use, naming the running one', async () => {
    const dataDir = join(root, 'twice');
    const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), throwAway: true });
    try {
      await expect(startEmbeddedPostgres({ dataDir, port: await freePort() })).rejects.toThrow(`(pid ${server.process.pid}) still uses`);
    } finally {
      await server.stop();
    }
  });

  it.runIf(userInfo().uid === 0)('as root: a data directory the unprivileged user cannot reach is kept in a stand-in it can, reused on the next start', async () => {
    const closed = join(root, 'closed');
    await mkdir(closed, { mode: 0o700 });
    await chmod(closed, 0o700);
    const lines: string[] = [];
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir: join(closed, 'pg'), port, throwAway: true, log: (line) => lines.push(line) });
    try {
      expect(first.dataDir).toMatch(/^\/var\/tmp\/strava-sync-postgres-[0-9a-f]{12}$/);
      expect(lines.some((line) => line.includes(`cannot enter ${closed}`) && line.includes(first.dataDir))).toBe(true);
      expect(await postgresAnswers(first.urlFor('postgres'))).toBe(true);
    } finally {
      await first.stop();
    }
    // Nothing was opened up, and the same request finds the same data again.
    expect((await stat(closed)).mode & 0o777).toBe(0o700);
    const second = await startEmbeddedPostgres({ dataDir: join(closed, 'pg'), port, throwAway: true });
    try {
      expect(second.dataDir).toBe(first.dataDir);
      expect(second.initialised).toBe(false);
    } finally {
      await second.stop();
      await rm(first.dataDir, { recursive: true, force: true });
    }
  });

  describe('choosing the PostgreSQL of npm start', () => {
    it('a given DATABASE_URL wins even when nothing answers there (no embedded server is started)', async () => {
      const dead = `postgres://postgres@127.0.0.1:${await freePort()}/strava_sync`;
      const dataDir = join(root, 'never');
      const choice = await choosePostgres({ givenUrl: dead, defaultUrl: SERVER_URL, embedded: { dataDir, port: await freePort() } });
      expect(choice).toEqual({ kind: 'given', url: dead });
      expect(await stat(dataDir).catch(() => 'absent')).toBe('absent');
    });

    it('uses the server answering at the default address', async () => {
      const choice = await choosePostgres({ givenUrl: '', defaultUrl: SERVER_URL, embedded: { dataDir: join(root, 'never'), port: await freePort() } });
      expect(choice).toEqual({ kind: 'found', url: SERVER_URL });
      expect(describePostgres(choice)).toBe(`PostgreSQL already running at ${SERVER_URL}`);
    });

    it('starts the embedded one when nothing answers at the default address, on the default database name', async () => {
      const defaultUrl = `postgres://postgres@127.0.0.1:${await freePort()}/strava_sync`;
      const port = await freePort();
      const dataDir = join(root, 'chosen');
      const choice = await choosePostgres({ givenUrl: undefined, defaultUrl, embedded: { dataDir, port } });
      try {
        expect(choice.kind).toBe('embedded');
        expect(choice.url).toBe(`postgres://postgres@127.0.0.1:${port}/strava_sync`);
        expect(describePostgres(choice)).toMatch(new RegExp(`^embedded PostgreSQL 18 at ${choice.url} \\(nothing answered at ${defaultUrl}; data in ${dataDir}, just created; runs as \\S+\\)$`));
      } finally {
        if (choice.kind === 'embedded') await choice.server.stop();
      }
    });
  });
});
