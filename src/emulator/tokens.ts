/**
 * OAuth grants as Strava keeps them: one grant per athlete for this application (its granted scopes and its
 * current refresh token), single-use authorization codes, and 6-hour access tokens. Refreshing while more than
 * an hour remains returns the same access token; a rotated refresh token invalidates the old one at once.
 */
import { randomBytes } from 'node:crypto';
import type { RefreshRotation } from './options.js';

export interface AccessTokenRecord {
  token: string;
  athleteId: number;
  scopes: ReadonlySet<string>;
  expiresAtS: number;
}

interface Grant {
  athleteId: number;
  scopes: Set<string>;
  refreshToken: string;
  latest: AccessTokenRecord | undefined;
  accessTokens: Set<string>;
  refreshCount: number;
}

interface CodeRecord {
  athleteId: number;
  scopes: Set<string>;
  expiresAtS: number;
}

export interface RefreshStats {
  refreshes: number;
  rotations: number;
}

export interface TokenGrantResult {
  accessToken: AccessTokenRecord;
  refreshToken: string;
}

const CODE_TTL_S = 600;
const SAME_TOKEN_THRESHOLD_S = 3600;

const newSecret = () => randomBytes(20).toString('hex');

export class TokenStore {
  private grants = new Map<number, Grant>();
  private byRefresh = new Map<string, Grant>();
  private byAccess = new Map<string, AccessTokenRecord>();
  private codes = new Map<string, CodeRecord>();
  /** Refreshes and refresh-token rotations per athlete, across grants (a revocation does not reset them). */
  private stats = new Map<number, RefreshStats>();
  rotation: RefreshRotation;

  constructor(
    private readonly startRotation: RefreshRotation,
    private readonly accessTtlS: number,
  ) {
    this.rotation = startRotation;
  }

  issueCode(athleteId: number, scopes: Set<string>, nowS: number): string {
    const code = newSecret();
    this.codes.set(code, { athleteId, scopes, expiresAtS: nowS + CODE_TTL_S });
    return code;
  }

  /** Single use: the code is consumed whether or not it has expired. */
  exchangeCode(code: string, nowS: number): (TokenGrantResult & { athleteId: number; scopes: Set<string> }) | undefined {
    const record = this.codes.get(code);
    if (!record) return undefined;
    this.codes.delete(code);
    if (record.expiresAtS <= nowS) return undefined;
    let grant = this.grants.get(record.athleteId);
    if (!grant) {
      grant = { athleteId: record.athleteId, scopes: record.scopes, refreshToken: newSecret(), latest: undefined, accessTokens: new Set(), refreshCount: 0 };
      this.grants.set(grant.athleteId, grant);
      this.byRefresh.set(grant.refreshToken, grant);
    } else {
      grant.scopes = record.scopes;
    }
    // A new authorization may carry different scopes: always a fresh access token.
    const accessToken = this.newAccessToken(grant, nowS);
    return { accessToken, refreshToken: grant.refreshToken, athleteId: grant.athleteId, scopes: grant.scopes };
  }

  refresh(refreshToken: string, nowS: number): TokenGrantResult | undefined {
    const grant = this.byRefresh.get(refreshToken);
    if (!grant) return undefined;
    grant.refreshCount++;
    const stats = this.statsOf(grant.athleteId);
    stats.refreshes++;
    if (this.shouldRotate(grant.refreshCount)) {
      stats.rotations++;
      this.byRefresh.delete(grant.refreshToken);
      grant.refreshToken = newSecret();
      this.byRefresh.set(grant.refreshToken, grant);
    }
    const latest = grant.latest;
    const accessToken =
      latest && latest.expiresAtS - nowS > SAME_TOKEN_THRESHOLD_S && this.byAccess.has(latest.token) ? latest : this.newAccessToken(grant, nowS);
    return { accessToken, refreshToken: grant.refreshToken };
  }

  private statsOf(athleteId: number): RefreshStats {
    let stats = this.stats.get(athleteId);
    if (!stats) this.stats.set(athleteId, (stats = { refreshes: 0, rotations: 0 }));
    return stats;
  }

  /** How often the athlete's tokens were refreshed, and how often that rotated the refresh token. */
  refreshStats(athleteId: number): RefreshStats {
    return { ...(this.stats.get(athleteId) ?? { refreshes: 0, rotations: 0 }) };
  }

  private shouldRotate(count: number): boolean {
    if (this.rotation === 'never') return false;
    if (this.rotation === 'always') return true;
    return count % this.rotation.every === 0;
  }

  private newAccessToken(grant: Grant, nowS: number): AccessTokenRecord {
    const record: AccessTokenRecord = { token: newSecret(), athleteId: grant.athleteId, scopes: new Set(grant.scopes), expiresAtS: nowS + this.accessTtlS };
    this.byAccess.set(record.token, record);
    grant.accessTokens.add(record.token);
    grant.latest = record;
    return record;
  }

  /** A valid (known, unexpired, not revoked) access token, or undefined. */
  authenticate(token: string, nowS: number): AccessTokenRecord | undefined {
    const record = this.byAccess.get(token);
    if (!record || record.expiresAtS <= nowS) return undefined;
    return record;
  }

  hasGrant(athleteId: number): boolean {
    return this.grants.has(athleteId);
  }

  grantScopes(athleteId: number): ReadonlySet<string> | undefined {
    return this.grants.get(athleteId)?.scopes;
  }

  /** Ends the athlete's authorization: every access and refresh token stops working. */
  revoke(athleteId: number): boolean {
    const grant = this.grants.get(athleteId);
    if (!grant) return false;
    for (const token of grant.accessTokens) this.byAccess.delete(token);
    this.byRefresh.delete(grant.refreshToken);
    this.grants.delete(athleteId);
    for (const [code, record] of this.codes) if (record.athleteId === athleteId) this.codes.delete(code);
    return true;
  }

  /** Forgets every grant and code; rotation goes back to the start-up setting. */
  reset(): void {
    this.rotation = this.startRotation;
    this.grants.clear();
    this.byRefresh.clear();
    this.byAccess.clear();
    this.codes.clear();
    this.stats.clear();
  }
}
