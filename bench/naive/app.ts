/**
 * The naive Strava integration, as most integrations (and the original guide) build it, for bench/naive to
 * compare strava-sync against: a webhook handler that answers 200 and fetches the activity at once, a cron that
 * lists every athlete's most recent activities every few hours, a token refresh before every call, no shared
 * rate budget (each call goes out when its caller wants it), and exponential backoff on 429 only (a 5xx or a
 * 404 from a still-processing activity is logged and dropped, as those guides do). Its own tables in its own
 * database, its own HTTP port for webhooks.
 *
 * Deliberately not "fixed": the benchmark measures what this design costs and misses.
 */
import express from 'express';
import type { Server } from 'node:http';
import { createSql, type Sql } from '../../src/db/connection.js';

export interface NaiveAppOptions {
  databaseUrl: string;
  apiUrl: string;
  oauthUrl: string;
  clientId: string;
  clientSecret: string;
  verifyToken: string;
  /** The cron period (3 h in the guide; compressed by the benchmark). */
  cronIntervalMs: number;
  /** per_page of the cron's list call: "recent activities" (the guide: the first page of 30). */
  recentPerPage: number;
  /** First wait after a 429; doubled on each retry. */
  backoffBaseMs: number;
  /** Retries after the first 429 before giving up. */
  maxRetries: number;
  /** Athletes the cron works on at once. */
  cronConcurrency: number;
}

export interface NaiveStats {
  webhooksReceived: number;
  fetches: number;
  fetchFailures: Record<string, number>;
  cronRuns: number;
  listCalls: number;
  retries429: number;
  gaveUp: number;
}

interface Summary {
  id: number;
  name: string;
  sport_type: string;
  private: boolean;
  visibility: string | null;
}

class HttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function createNaiveSchema(sql: Sql): Promise<void> {
  await sql.unsafe(`
    create table if not exists naive_tokens (athlete_id bigint primary key, access_token text not null, refresh_token text not null, expires_at bigint not null);
    create table if not exists naive_activities (id bigint primary key, athlete_id bigint not null, name text not null, sport_type text not null,
      private boolean not null, visibility text, updated_at timestamptz not null default now());`);
}

export class NaiveApp {
  readonly sql: Sql;
  readonly stats: NaiveStats = { webhooksReceived: 0, fetches: 0, fetchFailures: {}, cronRuns: 0, listCalls: 0, retries429: 0, gaveUp: 0 };
  private server: Server | undefined;
  private cronTimer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<unknown>>();
  port = 0;

  constructor(private readonly options: NaiveAppOptions) {
    this.sql = createSql(options.databaseUrl, { max: 8, applicationName: 'naive-integration' });
  }

  async start(): Promise<void> {
    await createNaiveSchema(this.sql);
    const app = express();
    app.use(express.json());
    app.get('/webhook', (req, res) => {
      if (req.query['hub.verify_token'] !== this.options.verifyToken) return void res.sendStatus(403);
      res.json({ 'hub.challenge': req.query['hub.challenge'] });
    });
    app.post('/webhook', (req, res) => {
      // The guide's handler: acknowledge, then do the work (nothing durable in between).
      res.sendStatus(200);
      this.stats.webhooksReceived++;
      this.track(this.handleEvent(req.body as WebhookEvent));
    });
    await new Promise<void>((resolve) => {
      this.server = app.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server!.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get callbackUrl(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  async subscribe(): Promise<void> {
    const response = await fetch(`${this.options.apiUrl}/push_subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: this.options.clientId, client_secret: this.options.clientSecret, callback_url: this.callbackUrl, verify_token: this.options.verifyToken }),
    });
    if (response.status !== 201) throw new Error(`naive subscription: ${response.status} ${await response.text()}`);
  }

  /** The OAuth callback's result: store the tokens, then import the athlete's history page by page. */
  async connect(athleteId: number, tokens: { accessToken: string; refreshToken: string; expiresAt: Date }): Promise<void> {
    await this.sql`
      insert into naive_tokens (athlete_id, access_token, refresh_token, expires_at)
      values (${athleteId}, ${tokens.accessToken}, ${tokens.refreshToken}, ${Math.floor(tokens.expiresAt.getTime() / 1000)})
      on conflict (athlete_id) do update set access_token = excluded.access_token, refresh_token = excluded.refresh_token, expires_at = excluded.expires_at`;
    for (let page = 1; ; page++) {
      const list = await this.call<Summary[]>(athleteId, `/athlete/activities?per_page=200&page=${page}`);
      await this.upsert(athleteId, list);
      if (list.length < 200) break;
    }
  }

  startCron(): void {
    const tick = () => {
      this.track(this.cronRun());
      this.cronTimer = setTimeout(tick, this.options.cronIntervalMs);
    };
    this.cronTimer = setTimeout(tick, this.options.cronIntervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.cronTimer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    await Promise.allSettled([...this.inFlight]);
    await this.sql.end({ timeout: 2 });
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch(() => {}).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async cronRun(): Promise<void> {
    this.stats.cronRuns++;
    const athletes = (await this.sql<{ athleteId: string }[]>`select athlete_id as "athleteId" from naive_tokens order by athlete_id`).map((r) => Number(r.athleteId));
    let next = 0;
    const workers = Array.from({ length: this.options.cronConcurrency }, async () => {
      while (next < athletes.length) {
        const athleteId = athletes[next++]!;
        try {
          this.stats.listCalls++;
          const list = await this.call<Summary[]>(athleteId, `/athlete/activities?per_page=${this.options.recentPerPage}`);
          await this.upsert(athleteId, list);
        } catch (error) {
          this.fail('list', error);
        }
      }
    });
    await Promise.all(workers);
  }

  private async handleEvent(event: WebhookEvent): Promise<void> {
    if (event.object_type !== 'activity') return;
    if (event.aspect_type === 'delete') {
      await this.sql`delete from naive_activities where id = ${event.object_id}`;
      return;
    }
    try {
      this.stats.fetches++;
      const activity = await this.call<Summary>(event.owner_id, `/activities/${event.object_id}`);
      await this.upsert(event.owner_id, [activity]);
    } catch (error) {
      this.fail('fetch', error);
    }
  }

  private fail(what: string, error: unknown): void {
    const key = `${what} ${error instanceof HttpError ? error.status : 'error'}`;
    this.stats.fetchFailures[key] = (this.stats.fetchFailures[key] ?? 0) + 1;
  }

  private async upsert(athleteId: number, activities: Summary[]): Promise<void> {
    if (activities.length === 0) return;
    const rows = activities.map((a) => ({ id: a.id, athlete_id: athleteId, name: a.name, sport_type: a.sport_type, private: a.private, visibility: a.visibility ?? null }));
    await this.sql`
      insert into naive_activities ${this.sql(rows, 'id', 'athlete_id', 'name', 'sport_type', 'private', 'visibility')}
      on conflict (id) do update set name = excluded.name, sport_type = excluded.sport_type, private = excluded.private,
        visibility = excluded.visibility, updated_at = now()`;
  }

  /** A token refresh before every call, then the call; a 429 is retried with exponential backoff. */
  private async call<T>(athleteId: number, path: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const accessToken = await this.refresh(athleteId);
      const response = await fetch(`${this.options.apiUrl}${path}`, { headers: { authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(10_000) });
      if (response.status === 200) return (await response.json()) as T;
      await response.arrayBuffer();
      if (response.status === 429 && attempt < this.options.maxRetries) {
        this.stats.retries429++;
        await sleep(this.options.backoffBaseMs * 2 ** attempt);
        continue;
      }
      if (response.status === 429) this.stats.gaveUp++;
      throw new HttpError(response.status);
    }
  }

  private async refresh(athleteId: number): Promise<string> {
    const [row] = await this.sql<{ refreshToken: string }[]>`select refresh_token as "refreshToken" from naive_tokens where athlete_id = ${athleteId}`;
    if (!row) throw new Error(`athlete ${athleteId} not connected`);
    const response = await fetch(`${this.options.oauthUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.options.clientId, client_secret: this.options.clientSecret, grant_type: 'refresh_token', refresh_token: row.refreshToken }),
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status !== 200) {
      await response.arrayBuffer();
      throw new HttpError(response.status);
    }
    const body = (await response.json()) as { access_token: string; refresh_token: string; expires_at: number };
    await this.sql`update naive_tokens set access_token = ${body.access_token}, refresh_token = ${body.refresh_token}, expires_at = ${body.expires_at} where athlete_id = ${athleteId}`;
    return body.access_token;
  }
}

interface WebhookEvent {
  object_type: string;
  object_id: number;
  aspect_type: string;
  owner_id: number;
}
