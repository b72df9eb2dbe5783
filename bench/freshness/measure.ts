/**
 * Freshness under load (issue 15, benchmark 1): new activities created in the emulator at a fixed rate, each
 * sending Strava's webhook, measured from the moment the emulator sends that webhook (its delivery log's first
 * attempt) to the moment a client sees the activity on the athlete's change stream (GET /athletes/:id/events,
 * read with the project's client library); each one is then confirmed through the activities API, as an app
 * would refetch. Shared by bench/freshness/run.ts and the smoke test (test/bench/freshness.test.ts).
 */
import { createStravaSyncClient, type EventStream } from '../../src/client/index.js';
import { cpuPercent, cpuSeconds } from '../lib/process-cpu.js';
import { ADMIN_KEY, type Stack } from '../lib/service-stack.js';

/** One athlete's change stream per connected athlete, recording when each activity first shows as upserted. */
export class ChangeWatcher {
  private readonly streams = new Map<number, EventStream>();
  /** activity id -> Date.now() when its change arrived. */
  readonly seen = new Map<number, number>();
  private readonly listeners = new Map<number, (atMs: number) => void>();
  streamErrors = 0;
  private readonly client;

  constructor(apiUrl: string) {
    this.client = createStravaSyncClient({ baseUrl: apiUrl, token: ADMIN_KEY });
  }

  /** Opens the streams of these athletes; resolves once every one is connected. */
  async open(athleteIds: number[]): Promise<void> {
    await Promise.all(
      athleteIds
        .filter((id) => !this.streams.has(id))
        .map(
          (athleteId) =>
            new Promise<void>((resolve) => {
              const stream = this.client.events(athleteId, {
                retryMs: 500,
                onOpen: () => resolve(),
                onError: () => this.streamErrors++,
                onChange: (change) => {
                  if (change.kind !== 'activities_upserted') return;
                  const at = Date.now();
                  for (const id of change.activityIds ?? []) {
                    if (this.seen.has(id)) continue;
                    this.seen.set(id, at);
                    this.listeners.get(id)?.(at);
                    this.listeners.delete(id);
                  }
                },
              });
              this.streams.set(athleteId, stream);
            }),
        ),
    );
  }

  /** Calls fn when the activity shows (at once if it already did). */
  whenSeen(activityId: number, fn: (atMs: number) => void): void {
    const at = this.seen.get(activityId);
    if (at !== undefined) fn(at);
    else this.listeners.set(activityId, fn);
  }

  get size(): number {
    return this.streams.size;
  }

  close(): void {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }
}

export interface StepResult {
  label: string;
  athletes: number;
  /** Offered rate (activities/s) and how long. */
  rate: number;
  seconds: number;
  created: number;
  /** Creates per second the generator achieved. */
  achievedRate: number;
  /** Seen on the change stream / confirmed by the activities API / neither within the grace period. */
  seen: number;
  confirmed: number;
  missing: number;
  /** Webhook sent -> change on the stream, ms. */
  latency: Percentiles | null;
  /** Webhook sent -> the activities API returns it (after the change arrived), ms. */
  confirmLatency: Percentiles | null;
  /** Webhook deliveries that needed more than one attempt. */
  retried: number;
  /** CPU per process group over the step, % of one core. */
  cpu: Record<string, number>;
  /**
   * Where the time goes, p50 / p99 per stage (ms): webhook sent -> inbox row (the API's receiver), inbox row ->
   * claimed by the relay, claimed -> activity row written (signal, workflow task, Strava fetch, upsert), row
   * written -> change on the stream (NOTIFY, SSE). Stage times are PostgreSQL transaction start times.
   */
  stages: Record<string, Percentiles | null>;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1)! };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Creates `rate` activities per second for `seconds` across `athleteIds` (round robin), open loop: each create is
 * sent on its schedule whether or not earlier ones were answered. Waits up to graceMs after the last create for
 * every activity to show on its stream and be confirmed by the activities API.
 */
export async function runStep(
  stack: Stack,
  watcher: ChangeWatcher,
  step: { label: string; athleteIds: number[]; rate: number; seconds: number; graceMs?: number },
  log: (line: string) => void = () => {},
): Promise<StepResult> {
  const { athleteIds, rate, seconds } = step;
  await watcher.open(athleteIds);
  const client = createStravaSyncClient({ baseUrl: stack.apiUrl, token: ADMIN_KEY });
  const control = stack.emulator.control;
  const total = Math.round(rate * seconds);
  const created: { id: number; athleteId: number; startDate: string }[] = [];
  const confirmedAt = new Map<number, number>();
  const confirmations: Promise<void>[] = [];
  let createFailures = 0;

  /** The app's refetch on a change: the activity must be in the athlete's list. */
  const confirm = async (athleteId: number, activityId: number, startDate: string): Promise<void> => {
    const after = new Date(Date.parse(startDate) - 1_000).toISOString();
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const page = await client.activityPage(athleteId, { after, limit: 200 });
        if (page.activities.some((a) => a.id === activityId)) {
          confirmedAt.set(activityId, Date.now());
          return;
        }
      } catch {
        // a loaded API answered an error: ask again
      }
      await sleep(200);
    }
  };

  const groups = stack.cpuGroups();
  const cpuBefore = await cpuSeconds(groups);
  const wallStart = performance.now();
  const pending: Promise<void>[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < total; i++) {
    const due = startedAt + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const athleteId = athleteIds[i % athleteIds.length]!;
    const startDate = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    pending.push(
      control
        .createActivity(athleteId, { name: `${step.label} #${i}`, sport_type: 'Run', start_date: startDate })
        .then((activity) => {
          created.push({ id: activity.id, athleteId, startDate });
          watcher.whenSeen(activity.id, () => confirmations.push(confirm(athleteId, activity.id, startDate)));
        })
        .catch(() => void createFailures++),
    );
  }
  await Promise.all(pending);
  const generatorSeconds = (performance.now() - startedAt) / 1000;
  log(`${step.label}: ${created.length} created in ${generatorSeconds.toFixed(1)} s; waiting for the streams`);

  const deadline = Date.now() + (step.graceMs ?? 30_000);
  while (Date.now() < deadline && created.some((c) => !watcher.seen.has(c.id))) await sleep(100);
  // Confirmations started so far, and any the last changes started.
  await sleep(50);
  await Promise.all(confirmations);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const cpu = cpuPercent(cpuBefore, await cpuSeconds(groups), wallSeconds);

  // When the emulator sent each create's webhook: the first attempt of its (non-duplicate) delivery.
  const ids = new Set(created.map((c) => c.id));
  const sentAt = new Map<number, number>();
  let retried = 0;
  for (const delivery of await control.webhookLog()) {
    const e = delivery.event;
    if (e.object_type !== 'activity' || e.aspect_type !== 'create' || !ids.has(e.object_id) || delivery.duplicate) continue;
    const first = delivery.attempts[0];
    if (first) sentAt.set(e.object_id, first.sentAtMs);
    if (delivery.attempts.length > 1) retried++;
  }
  const latencies: number[] = [];
  const confirmLatencies: number[] = [];
  let missing = 0;
  for (const c of created) {
    const sent = sentAt.get(c.id);
    const seen = watcher.seen.get(c.id);
    const confirmed = confirmedAt.get(c.id);
    if (sent === undefined || seen === undefined || confirmed === undefined) {
      missing++;
      continue;
    }
    latencies.push(seen - sent);
    confirmLatencies.push(confirmed - sent);
  }
  missing += createFailures;
  const stageSamples: Record<string, number[]> = { 'sent -> inbox': [], 'inbox -> relay claim': [], 'claim -> row written': [], 'row -> stream': [] };
  const rows = await stack.sql<{ objectId: string; receivedAt: Date; forwardedAt: Date | null; syncedAt: Date | null }[]>`
    select e.object_id::text as "objectId", e.received_at as "receivedAt", e.forwarded_at as "forwardedAt", a.synced_at as "syncedAt"
    from webhook_events e left join activities a on a.id = e.object_id
    where e.aspect_type = 'create' and e.object_id = any(${created.map((c) => c.id)}::bigint[])`;
  for (const row of rows) {
    const id = Number(row.objectId);
    const sent = sentAt.get(id);
    const seen = watcher.seen.get(id);
    if (sent === undefined || seen === undefined || !row.forwardedAt || !row.syncedAt) continue;
    stageSamples['sent -> inbox']!.push(row.receivedAt.getTime() - sent);
    stageSamples['inbox -> relay claim']!.push(row.forwardedAt.getTime() - row.receivedAt.getTime());
    stageSamples['claim -> row written']!.push(row.syncedAt.getTime() - row.forwardedAt.getTime());
    stageSamples['row -> stream']!.push(seen - row.syncedAt.getTime());
  }
  const stages = Object.fromEntries(Object.entries(stageSamples).map(([k, v]) => [k, percentiles(v)]));
  return {
    label: step.label,
    athletes: athleteIds.length,
    rate,
    seconds,
    created: created.length,
    achievedRate: created.length / generatorSeconds,
    seen: created.filter((c) => watcher.seen.has(c.id)).length,
    confirmed: confirmedAt.size,
    missing,
    latency: percentiles(latencies),
    confirmLatency: percentiles(confirmLatencies),
    retried,
    cpu,
    stages,
  };
}

export function describeStep(r: StepResult): string {
  const l = r.latency;
  return `${r.label}: ${r.athletes} athletes, ${r.rate}/s x ${r.seconds} s: created ${r.created} (${r.achievedRate.toFixed(1)}/s), seen ${r.seen}, confirmed ${r.confirmed}, missing ${r.missing}, retried ${r.retried}; ` +
    (l ? `p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms` : 'no samples') +
    `; stages ${Object.entries(r.stages).map(([k, v]) => `${k} ${v ? `${v.p50}/${v.p99}` : '—'}`).join(', ')}` +
    `; CPU ${Object.entries(r.cpu).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')}`;
}
