/**
 * The fleet benchmark's measuring parts (bench/fleet/run.ts, test/bench/fleet.test.ts): connecting athletes through
 * the API's OAuth flow within a time bound while sampling rate, RSS and CPU; counting running workflows; CPU at rest.
 */
import type { Client } from '@temporalio/client';
import { connectThroughOAuth } from '../../src/dev/oauth-connect.js';
import { cpuPercent, cpuSeconds } from '../lib/process-cpu.js';
import type { Stack } from '../lib/service-stack.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Sample {
  atS: number;
  connected: number;
  /** Athletes per second over the last interval. */
  rate: number;
  rss: Record<string, number>;
  cpu: Record<string, number>;
}

/**
 * Connects athletes from `ids` (in order), `concurrency` at a time, until all are done or `seconds` pass; samples
 * the rate, RSS and CPU every 10 s. Returns how many connected, how long it took, the samples and the first failure.
 */
export async function connectBounded(stack: Stack, ids: number[], o: { seconds: number; startCount: number; concurrency: number; log?: (line: string) => void }): Promise<{ connected: number; ms: number; samples: Sample[]; failures: string[] }> {
  const { seconds, startCount, concurrency } = o;
  const log = o.log ?? (() => {});
  const deadline = Date.now() + seconds * 1000;
  const started = performance.now();
  let next = 0;
  let connected = 0;
  const failures: string[] = [];
  const lane = async () => {
    for (let i = next++; i < ids.length && Date.now() < deadline && failures.length < 20; i = next++) {
      const id = ids[i]!;
      const headers = { 'x-forwarded-for': `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}` };
      try {
        await connectThroughOAuth(stack.apiUrl, id, { headers }).catch(() => connectThroughOAuth(stack.apiUrl, id, { headers }));
        connected++;
      } catch (error) {
        failures.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  const samples: Sample[] = [];
  let sampling = true;
  const sampler = (async () => {
    const groups = stack.cpuGroups();
    let before = await cpuSeconds(groups);
    let lastCount = 0;
    let lastAt = performance.now();
    while (sampling) {
      for (const until = performance.now() + 10_000; sampling && performance.now() < until; ) await sleep(250);
      if (!sampling) break;
      const now = performance.now();
      const after = await cpuSeconds(groups);
      samples.push({
        atS: (now - started) / 1000,
        connected: startCount + connected,
        rate: (connected - lastCount) / ((now - lastAt) / 1000),
        rss: await stack.rss(),
        cpu: cpuPercent(before, after, (now - lastAt) / 1000),
      });
      log(`connected ${startCount + connected} (${samples.at(-1)!.rate.toFixed(1)}/s); RSS ${fmtRecord(samples.at(-1)!.rss)} MiB; CPU ${fmtRecord(samples.at(-1)!.cpu)} %`);
      before = after;
      lastCount = connected;
      lastAt = now;
    }
  })();
  await Promise.all(Array.from({ length: concurrency }, lane));
  sampling = false;
  await sampler;
  return { connected, ms: performance.now() - started, samples, failures };
}

export const fmtRecord = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k.split(' ')[0]} ${v.toFixed(0)}`).join(', ');

export async function runningWorkflows(client: Client): Promise<number> {
  const { count } = await client.workflow.count(`WorkflowType = 'athleteSync' AND ExecutionStatus = 'Running'`);
  return count;
}

/**
 * Waits until `connected` athletes rest in `idle` (their import listed and their first backfill planned), at most
 * `seconds`; returns how long it took and how many were idle then. Right after a mass connect the dev server is
 * still working through every new workflow's first steps: "at rest" is only measured after this.
 */
export async function settle(stack: Stack, connected: number, seconds: number): Promise<{ ms: number; idle: number }> {
  const started = performance.now();
  const deadline = Date.now() + seconds * 1000;
  let idle = 0;
  do {
    idle = (await stack.sql<{ n: number }[]>`select count(*)::int as n from athletes where state = 'idle'`)[0]!.n;
    if (idle >= connected) break;
    await sleep(1_000);
  } while (Date.now() < deadline);
  return { ms: performance.now() - started, idle };
}

/** CPU (% of one core) per process over `seconds` with nothing sent. */
export async function atRest(stack: Stack, seconds: number): Promise<Record<string, number>> {
  const groups = stack.cpuGroups();
  const before = await cpuSeconds(groups);
  await sleep(seconds * 1000);
  return cpuPercent(before, await cpuSeconds(groups), seconds);
}

