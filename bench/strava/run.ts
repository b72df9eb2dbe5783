/**
 * Strava-area benchmark:
 *  1. Rate governor overhead per acquire() against local PostgreSQL, sequential and with 8 concurrent callers,
 *     with a bare `select 1` on the same pool as the baseline (target: acquire p99 < 2 ms).
 *  2. Client throughput against the emulator (in a child process): GET /activities/{id} through the typed client
 *     (zod parsing, header parsing, timeout signal) vs a bare fetch of the same URL, and through the full
 *     athlete path (governor + vault + client + usage feedback), at several concurrencies.
 *
 *   npx tsx bench/strava/run.ts [--iterations 5000] [--seconds 3] [--write]
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) names the server; a scratch database is
 * created and dropped. --write records the results in bench/strava/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { keyId } from '../../src/config.js';
import { createSql } from '../../src/db/connection.js';
import { migrate } from '../../src/db/migrate.js';
import { upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { EmulatorControl } from '../../src/emulator/control-client.js';
import { createAthleteStrava } from '../../src/strava/athlete-api.js';
import { createStravaClient } from '../../src/strava/client.js';
import { createRateGovernor } from '../../src/strava/rate-governor.js';
import { createTokenVault } from '../../src/strava/token-vault.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { iterations: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '3' }, write: { type: 'boolean', default: false } },
});
const iterations = Number(values.iterations);
const seconds = Number(values.seconds);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { n: samples.length, mean, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}
const ms = (n: number) => n.toFixed(3);

/** `concurrency` callers each running `fn` back to back until `count` calls in total are done. */
async function timed(count: number, concurrency: number, fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const start = performance.now();
        await fn();
        samples.push(performance.now() - start);
      }
    }),
  );
  return samples;
}

/** Calls per second over `seconds` with `concurrency` callers, plus latency stats. */
async function throughput(concurrency: number, fn: () => Promise<unknown>) {
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        await fn();
        samples.push(performance.now() - start);
      }
    }),
  );
  return { rps: samples.length / seconds, ...stats(samples) };
}

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `strava_sync_bench_${randomBytes(4).toString('hex')}`;
const admin = createSql(serverUrl, { max: 1 });
await admin.unsafe(`create database ${dbName}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
const sql = createSql(dbUrl.toString(), { max: 10, applicationName: 'strava-sync-bench' });
const emulatorChild = spawn(process.execPath, ['--import', 'tsx', join(here, 'emulator-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const lines: string[] = [];
try {
  await migrate(sql);
  const governor = createRateGovernor({
    sql,
    backgroundShare: 0.6,
    interactiveShare: 0.85,
    defaultLimits: { fifteenMinute: 1e9, daily: 1e9 },
  });
  // Warm up connections and prepared statements.
  await timed(500, 8, () => sql`select 1`);
  await timed(500, 8, () => governor.acquire('realtime'));

  const governorRows: [string, ReturnType<typeof stats>][] = [];
  governorRows.push(['select 1 (baseline), sequential', stats(await timed(iterations, 1, () => sql`select 1`))]);
  governorRows.push(['acquire(realtime), sequential', stats(await timed(iterations, 1, () => governor.acquire('realtime')))]);
  governorRows.push(['acquire(background), sequential', stats(await timed(iterations, 1, () => governor.acquire('background')))]);
  governorRows.push(['select 1 (baseline), 8 concurrent', stats(await timed(iterations, 8, () => sql`select 1`))]);
  governorRows.push(['acquire(realtime), 8 concurrent', stats(await timed(iterations, 8, () => governor.acquire('realtime')))]);
  const usage = { read: { limit: { fifteenMinute: 1e9, daily: 1e9 }, usage: { fifteenMinute: 1, daily: 1 } } };
  governorRows.push(['observe(usage), sequential', stats(await timed(iterations, 1, () => governor.observe(usage)))]);

  const info = JSON.parse(
    await new Promise<string>((resolve, reject) => {
      createInterface({ input: emulatorChild.stdout! }).once('line', resolve);
      emulatorChild.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    }),
  ) as { baseUrl: string; apiUrl: string; oauthUrl: string; clientId: string; clientSecret: string };
  const control = new EmulatorControl(info.baseUrl);
  const { id: athleteId } = await control.createAthlete({ activities: 50 });
  const issued = await control.issueTokens(athleteId);
  const activityId = (await control.groundTruth(athleteId))[0]!.id;
  const client = createStravaClient({ ...info, timeoutMs: 10_000 });
  const key = randomBytes(32);
  const vault = createTokenVault({ sql, client, key, keyId: keyId(key), refreshMarginMs: 300_000 });
  await upsertConnectedAthlete(sql, athleteId, ['read', 'activity:read_all']);
  await vault.store(athleteId, issued);
  const athleteStrava = createAthleteStrava({ client, vault, governor });
  const url = `${info.apiUrl}/activities/${activityId}`;
  const bare = async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${issued.accessToken}` } });
    await response.text();
  };
  const typed = () => client.getActivity(issued.accessToken, activityId);
  const full = () => athleteStrava.getActivity(athleteId, 'realtime', activityId);
  await throughput(4, bare); // warm-up

  const clientRows: [string, number, Awaited<ReturnType<typeof throughput>>][] = [];
  for (const concurrency of [1, 8, 32]) {
    clientRows.push(['bare fetch (baseline)', concurrency, await throughput(concurrency, bare)]);
    clientRows.push(['client.getActivity', concurrency, await throughput(concurrency, typed)]);
    clientRows.push(['athleteStrava.getActivity (governor + vault + client)', concurrency, await throughput(concurrency, full)]);
  }

  const cpu = cpus();
  lines.push(`Machine: ${cpu.length} x ${cpu[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ` +
    `PostgreSQL ${(await sql<{ server_version: string }[]>`show server_version`)[0]!.server_version} on localhost. Date: ${new Date().toISOString()}.`);
  lines.push('');
  lines.push(`### Governor overhead (${iterations} calls each, ms)`);
  lines.push('');
  lines.push('| operation | p50 | p99 | mean | max |');
  lines.push('|---|---|---|---|---|');
  for (const [name, s] of governorRows) lines.push(`| ${name} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.mean)} | ${ms(s.max)} |`);
  lines.push('');
  lines.push(`### Client throughput against the emulator (GET /activities/{id}, ${seconds} s per row)`);
  lines.push('');
  lines.push('| path | concurrency | req/s | p50 ms | p99 ms |');
  lines.push('|---|---|---|---|---|');
  for (const [name, c, r] of clientRows) lines.push(`| ${name} | ${c} | ${r.rps.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} |`);
  console.log(lines.join('\n'));
} finally {
  emulatorChild.kill('SIGTERM');
  await sql.end({ timeout: 1 });
  await admin.unsafe(`drop database if exists ${dbName} with (force)`);
  await admin.end();
}

const NOTES_HEADING = '### Reading these numbers';

if (values.write) {
  const header = [
    '# Strava client, token vault and rate governor: benchmark results',
    '',
    'Command: `npx tsx bench/strava/run.ts --write` (defaults: 5000 governor calls per row, 3 s per throughput row).',
    'The emulator runs in a child process; the benchmark process holds the PostgreSQL pool (10 connections) and the',
    "client. Both share the machine's cores with PostgreSQL, so throughput rows measure the whole local stack.",
    '',
  ];
  // The hand-written reading of the numbers is kept: re-running rewrites the tables only.
  const resultsPath = join(here, 'RESULTS.md');
  const previous = await readFile(resultsPath, 'utf8').catch(() => '');
  const notesAt = previous.indexOf(NOTES_HEADING);
  const notes = notesAt >= 0 ? ['', previous.slice(notesAt).trimEnd()] : [];
  await writeFile(resultsPath, [...header, ...lines, ...notes, ''].join('\n'));
}
