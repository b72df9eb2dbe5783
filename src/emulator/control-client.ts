/**
 * Typed HTTP client for the emulator's control API (/_emulator/*), usable against any emulator URL (an
 * in-process one from startEmulator, or `strava-sync emulator` running elsewhere).
 */
import type { ActivityFieldsInput, CreateAthleteInput, UpdateActivityInput } from './control-schemas.js';
import type { Counters } from './counters.js';
import type { FaultPatch, FaultSettings } from './faults.js';
import type { RateLimits, RefreshRotation } from './options.js';
import type { GroundTruthSnapshot } from './snapshot.js';
import type { StormChange, StormProgress, StormSpec } from './storm.js';
import type { DeliveryRecord, PushSubscription } from './webhooks.js';

/** A SummaryActivity as the emulator serves it (all of Strava's fields; the common ones typed). */
export interface EmulatorActivity {
  id: number;
  athlete: { id: number; resource_state: number };
  name: string;
  sport_type: string;
  type: string;
  start_date: string;
  start_date_local: string;
  timezone: string;
  distance: number;
  moving_time: number;
  elapsed_time: number;
  total_elevation_gain: number;
  private: boolean;
  visibility: 'everyone' | 'followers_only' | 'only_me';
  resource_state: number;
  [field: string]: unknown;
}

export interface EmulatorAthlete {
  id: number;
  firstname: string;
  lastname: string;
  activities: number;
  connected: boolean;
  scopes: string[];
  /** Token refreshes of this athlete so far, and how many of them rotated the refresh token. */
  refreshes: number;
  rotations: number;
  profile: Record<string, unknown>;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  /** The scopes granted, comma separated as Strava reports them. */
  scope: string;
}

export interface EmulatorConfig {
  clientId: string;
  clientSecret: string;
  baseUrl: string;
  apiUrl: string;
  oauthUrl: string;
  seed: number;
  /** As now (PUT /_emulator/refresh-rotation changes it). */
  refreshRotation: RefreshRotation;
  webhookRetryDelayMs: number;
  webhookMaxAttempts: number;
}

export class EmulatorControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EmulatorControlError';
  }
}

export class EmulatorControl {
  private config: Promise<EmulatorConfig> | undefined;

  constructor(readonly baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}/_emulator${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new EmulatorControlError(response.status, `emulator control ${method} ${path}: ${response.status} ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  getConfig(): Promise<EmulatorConfig> {
    return (this.config ??= this.call<EmulatorConfig>('GET', '/config'));
  }

  createAthlete(input: CreateAthleteInput = {}): Promise<EmulatorAthlete> {
    return this.call('POST', '/athletes', input);
  }

  getAthlete(athleteId: number): Promise<EmulatorAthlete> {
    return this.call('GET', `/athletes/${athleteId}`);
  }

  listAthletes(): Promise<Omit<EmulatorAthlete, 'profile'>[]> {
    return this.call('GET', '/athletes');
  }

  /**
   * Connects the athlete the way a browser would: GET /oauth/authorize (auto-approved, optionally with the
   * athlete unticking scopes via grantScope), then POST /oauth/token with the code.
   */
  async issueTokens(athleteId: number, scope = 'read,activity:read_all', options: { grantScope?: string } = {}): Promise<IssuedTokens> {
    const config = await this.getConfig();
    const authorize = new URL(`${this.baseUrl}/oauth/authorize`);
    authorize.searchParams.set('client_id', config.clientId);
    authorize.searchParams.set('redirect_uri', 'http://localhost/exchange_token');
    authorize.searchParams.set('response_type', 'code');
    authorize.searchParams.set('approval_prompt', 'force');
    authorize.searchParams.set('scope', scope);
    authorize.searchParams.set('state', 'control');
    authorize.searchParams.set('athlete_id', String(athleteId));
    if (options.grantScope !== undefined) authorize.searchParams.set('grant_scope', options.grantScope);
    const consent = await fetch(authorize, { redirect: 'manual' });
    await consent.arrayBuffer();
    const location = consent.headers.get('location');
    if (consent.status !== 302 || !location) throw new EmulatorControlError(consent.status, `authorize did not redirect (${consent.status})`);
    const redirect = new URL(location);
    const code = redirect.searchParams.get('code');
    if (!code) throw new EmulatorControlError(400, `authorize redirected without a code: ${redirect.searchParams.get('error') ?? 'unknown'}`);
    const response = await fetch(`${this.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: config.clientId, client_secret: config.clientSecret, code, grant_type: 'authorization_code' }),
    });
    const body = (await response.json()) as { access_token: string; refresh_token: string; expires_at: number };
    if (response.status !== 200) throw new EmulatorControlError(response.status, 'token exchange failed');
    return { accessToken: body.access_token, refreshToken: body.refresh_token, expiresAt: new Date(body.expires_at * 1000), scope: redirect.searchParams.get('scope') ?? '' };
  }

  /**
   * What the athlete leaves ticked on the consent page from now on (e.g. 'read,activity:read' to untick private
   * activities): every later authorization grants the requested scopes within it. null: grant all requested.
   */
  async setConsent(athleteId: number, grantScope: string | null): Promise<void> {
    await this.call('PUT', `/athletes/${athleteId}/consent`, { grantScope });
  }

  createActivity(athleteId: number, fields: ActivityFieldsInput = {}, options: { processingMs?: number } = {}): Promise<EmulatorActivity> {
    return this.call('POST', `/athletes/${athleteId}/activities`, { ...fields, ...options });
  }

  getActivity(id: number): Promise<EmulatorActivity & { _availableAtMs: number }> {
    return this.call('GET', `/activities/${id}`);
  }

  updateActivity(id: number, patch: UpdateActivityInput): Promise<EmulatorActivity> {
    return this.call('PATCH', `/activities/${id}`, patch);
  }

  async deleteActivity(id: number): Promise<void> {
    await this.call('DELETE', `/activities/${id}`);
  }

  /** The athlete revokes the app on Strava's side; returns false if the athlete had not authorized it. */
  async revokeAthlete(athleteId: number): Promise<boolean> {
    return (await this.call<{ revoked: boolean }>('POST', `/athletes/${athleteId}/revoke`)).revoked;
  }

  setFaults(patch: FaultPatch): Promise<FaultSettings> {
    return this.call('PATCH', '/faults', patch);
  }

  getFaults(): Promise<FaultSettings> {
    return this.call('GET', '/faults');
  }

  async advanceClock(ms: number): Promise<number> {
    return (await this.call<{ now: number }>('POST', '/clock/advance', { ms })).now;
  }

  async setClock(epochMs: number): Promise<number> {
    return (await this.call<{ now: number }>('PUT', '/clock', { epochMs })).now;
  }

  async now(): Promise<number> {
    return (await this.call<{ now: number }>('GET', '/clock')).now;
  }

  counters(): Promise<Counters> {
    return this.call('GET', '/counters');
  }

  /** Every activity the app can see for the athlete now, newest first. readAll defaults to the athlete's grant. */
  groundTruth(athleteId: number, options: { readAll?: boolean } = {}): Promise<EmulatorActivity[]> {
    const query = options.readAll === undefined ? '' : `?read_all=${options.readAll}`;
    return this.call('GET', `/athletes/${athleteId}/ground-truth${query}`);
  }

  /** Ground truth of every athlete, keyed by athlete id. */
  allGroundTruth(options: { readAll?: boolean } = {}): Promise<Record<string, EmulatorActivity[]>> {
    const query = options.readAll === undefined ? '' : `?read_all=${options.readAll}`;
    return this.call('GET', `/ground-truth${query}`);
  }

  /** Every athlete's ground truth at one instant, as the application should see it given each grant. */
  snapshot(): Promise<GroundTruthSnapshot> {
    return this.call('GET', '/snapshot');
  }

  /** Starts a seeded storm of changes in the emulator (spread over spec.durationMs); 409 while one runs. */
  startStorm(spec: StormSpec): Promise<StormProgress> {
    return this.call('POST', '/storm', spec);
  }

  stormProgress(): Promise<StormProgress> {
    return this.call('GET', '/storm');
  }

  /** The progress with every applied change (ids and kinds). */
  stormLog(): Promise<StormProgress & { log: StormChange[] }> {
    return this.call('GET', '/storm?log=true');
  }

  /** Stops the storm where it is. */
  stopStorm(): Promise<StormProgress | null> {
    return this.call('DELETE', '/storm');
  }

  async setRefreshRotation(rotation: RefreshRotation): Promise<void> {
    await this.call('PUT', '/refresh-rotation', { rotation });
  }

  rateLimits(): Promise<{ limits: RateLimits; usage: { fifteenMinute: { overall: number; read: number }; daily: { overall: number; read: number } } }> {
    return this.call('GET', '/rate-limits');
  }

  async setRateLimits(limits: Partial<RateLimits>): Promise<void> {
    await this.call('PATCH', '/rate-limits', limits);
  }

  subscription(): Promise<PushSubscription | null> {
    return this.call('GET', '/subscription');
  }

  /** Drops the push subscription as Strava may on its side, without the application asking. */
  async deleteSubscription(): Promise<void> {
    await this.call('DELETE', '/subscription');
  }

  /** The latest webhook deliveries (events, attempts and outcomes), oldest first. */
  webhookLog(): Promise<DeliveryRecord[]> {
    return this.call('GET', '/webhooks');
  }

  /** Resolves once no webhook delivery is scheduled or in flight (or rejects after timeoutMs). */
  async webhooksSettled(timeoutMs = 15_000): Promise<Counters['webhooks']> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { webhooks } = await this.counters();
      if (webhooks.pending === 0) return webhooks;
      if (Date.now() > deadline) throw new Error(`webhook deliveries still pending after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Back to the start-up state: same seed, same generated athletes, no tokens, no subscription, no faults set later. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }
}
