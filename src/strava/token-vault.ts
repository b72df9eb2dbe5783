import type { Db, Sql } from '../db/connection.js';
import { setAthleteState } from '../db/repositories/athletes.js';
import {
  athleteIdsWithOtherKey,
  deleteTokens,
  readTokens,
  replaceCiphertexts,
  saveRefreshedTokens,
  upsertTokens,
  type EncryptedTokenRow,
} from '../db/repositories/tokens.js';
import type { RefreshOutcome } from '../domain/sync-history.js';
import type { StravaClient, TokenSet } from './client.js';
import { isInvalidRefreshTokenError, NeedsReauthError, StravaError, type StravaErrorKind } from './errors.js';
import { createTokenCipher } from './token-crypto.js';

/**
 * The only holder of athletes' OAuth tokens: encrypted at rest (token-crypto.ts), refreshed on demand.
 *
 * Refresh protocol (Strava may rotate the refresh token on every refresh and invalidates the old one at once):
 * lock the athlete's token row (SELECT ... FOR UPDATE), re-check expiry (another process may just have
 * refreshed), call Strava, write the new pair, COMMIT, and only then return the access token. Concurrent callers,
 * in this process or any other, queue on the row lock and find the fresh token: one refresh per expiry.
 */

export interface TokenVaultOptions {
  sql: Sql;
  client: Pick<StravaClient, 'refreshToken'>;
  key: Buffer;
  keyId: string;
  oldKeys?: Buffer[];
  /** Refresh when the access token expires within this margin. */
  refreshMarginMs: number;
  /** Epoch ms; tokens' expires_at is Strava's clock, so tests pass the emulator's clock. */
  now?: () => number;
  /**
   * Told of every refresh sent to Strava, once its transaction has ended (the sync history records it). Its
   * failures are ignored: a refresh never fails because it could not be recorded.
   */
  onRefresh?: (attempt: TokenRefreshAttempt) => void | Promise<void>;
}

/** One refresh request sent to Strava and how it ended. */
export interface TokenRefreshAttempt {
  athleteId: number;
  outcome: RefreshOutcome;
  /** The kind of Strava error that ended it ('unknown' for anything else); null when it succeeded. */
  errorKind: StravaErrorKind | 'unknown' | null;
  /** Strava's status when it answered with an error; null otherwise. */
  httpStatus: number | null;
  durationMs: number;
}

/**
 * How a failed refresh ended: refused when Strava answered with a 4xx (a refresh token it no longer accepts, the
 * application's credentials refused, a rate limit), network_failed when no usable answer came (connection error,
 * timeout, a 5xx, a 2xx whose body is not a token).
 */
export function refreshFailureOf(error: unknown): Pick<TokenRefreshAttempt, 'outcome' | 'errorKind' | 'httpStatus'> {
  if (!(error instanceof StravaError)) return { outcome: 'network_failed', errorKind: 'unknown', httpStatus: null };
  const status = error.status ?? null;
  const refused = status !== null && status >= 400 && status < 500;
  return { outcome: refused ? 'refused' : 'network_failed', errorKind: error.kind, httpStatus: status };
}

export interface TokenVault {
  store(athleteId: number, tokens: TokenSet, tx?: Db): Promise<void>;
  /** A valid access token (refreshed if needed). Throws NeedsReauthError when the athlete must reconnect. */
  getAccessToken(athleteId: number): Promise<string>;
  /**
   * Strava answered 401 to `rejected`: refreshes now whatever its recorded expiry (unless another caller already
   * replaced it), so Strava's answer to the refresh token says whether the athlete's grant is still alive.
   * Throws NeedsReauthError when the refresh token is refused too.
   */
  refreshRejected(athleteId: number, rejected: string): Promise<string>;
  remove(athleteId: number, tx?: Db): Promise<boolean>;
  /** Re-encrypts every row not under the current key; returns how many rows changed. */
  reencryptAll(): Promise<number>;
}

/** If a refresh fails transiently, a token valid for at least this long is still handed out. */
const STILL_VALID_MS = 60_000;

type RefreshResult = { kind: 'token'; token: string } | { kind: 'reauth' } | { kind: 'missing' };

export function createTokenVault(options: TokenVaultOptions): TokenVault {
  const { sql, client, refreshMarginMs } = options;
  const now = options.now ?? Date.now;
  const cipher = createTokenCipher({ key: options.key, keyId: options.keyId, oldKeys: options.oldKeys ?? [] });
  // Callers in this process share one refresh instead of queueing a connection each on the row lock.
  const inflight = new Map<number, Promise<string>>();

  const encryptPair = (athleteId: number, tokens: TokenSet) => ({
    athleteId,
    accessTokenEnc: cipher.encrypt(tokens.accessToken, athleteId, 'access'),
    refreshTokenEnc: cipher.encrypt(tokens.refreshToken, athleteId, 'refresh'),
    expiresAt: tokens.expiresAt,
    keyId: cipher.keyId,
  });
  const accessOf = (row: EncryptedTokenRow) => cipher.decrypt(row.accessTokenEnc, row.keyId, row.athleteId, 'access');
  const fresh = (row: EncryptedTokenRow) => row.expiresAt.getTime() - now() > refreshMarginMs;

  /** Hands a finished refresh to onRefresh, after its transaction ended (committed or not). */
  async function report(attempt: TokenRefreshAttempt | undefined): Promise<void> {
    if (!attempt || !options.onRefresh) return;
    try {
      await options.onRefresh(attempt);
    } catch {
      // Best effort: the refresh's own outcome stands.
    }
  }

  /** `rejected`: the access token Strava just refused, refreshed even though its recorded expiry is far away. */
  async function refreshUnderLock(athleteId: number, rejected?: string): Promise<string> {
    let attempt: TokenRefreshAttempt | undefined;
    const outcome = await sql.begin(async (tx): Promise<RefreshResult> => {
      const row = await readTokens(tx, athleteId, { forUpdate: true });
      if (!row) return { kind: 'missing' };
      if (rejected === undefined ? fresh(row) : accessOf(row) !== rejected) return { kind: 'token', token: accessOf(row) };
      const refreshToken = cipher.decrypt(row.refreshTokenEnc, row.keyId, athleteId, 'refresh');
      let tokens: TokenSet;
      const sentAt = Date.now();
      try {
        tokens = await client.refreshToken(refreshToken);
        attempt = { athleteId, outcome: 'succeeded', errorKind: null, httpStatus: null, durationMs: Date.now() - sentAt };
      } catch (error) {
        attempt = { athleteId, ...refreshFailureOf(error), durationMs: Date.now() - sentAt };
        if (isInvalidRefreshTokenError(error)) {
          // Committed with this transaction; the error is raised after commit (below). The dead pair is
          // deleted so no later call sends it to Strava again: only a reconnect (store) brings tokens back.
          await setAthleteState(tx, athleteId, 'needs_reauth');
          await deleteTokens(tx, athleteId);
          return { kind: 'reauth' };
        }
        // Not for a rejected token: handing it out again would only meet the same 401.
        if (rejected === undefined && error instanceof StravaError && error.retryable && row.expiresAt.getTime() - now() > STILL_VALID_MS) {
          return { kind: 'token', token: accessOf(row) };
        }
        throw error;
      }
      await saveRefreshedTokens(tx, encryptPair(athleteId, tokens));
      return { kind: 'token', token: tokens.accessToken };
    }).finally(() => report(attempt));
    // Only reached after COMMIT: the newest refresh token is durable before its access token is used.
    if (outcome.kind === 'token') return outcome.token;
    throw new NeedsReauthError(athleteId, outcome.kind === 'reauth' ? 'refresh_token_invalid' : 'no_tokens');
  }

  return {
    async store(athleteId, tokens, tx) {
      await upsertTokens(tx ?? sql, encryptPair(athleteId, tokens));
    },

    async getAccessToken(athleteId) {
      const row = await readTokens(sql, athleteId);
      if (!row) throw new NeedsReauthError(athleteId, 'no_tokens');
      if (fresh(row)) return accessOf(row);
      let pending = inflight.get(athleteId);
      if (!pending) {
        pending = refreshUnderLock(athleteId).finally(() => inflight.delete(athleteId));
        inflight.set(athleteId, pending);
      }
      return pending;
    },

    refreshRejected(athleteId, rejected) {
      // Not shared through `inflight`: the row lock and the comparison with `rejected` make a concurrent caller
      // that already replaced the token return the replacement instead of refreshing twice.
      return refreshUnderLock(athleteId, rejected);
    },

    remove(athleteId, tx) {
      return deleteTokens(tx ?? sql, athleteId);
    },

    async reencryptAll() {
      let changed = 0;
      for (const athleteId of await athleteIdsWithOtherKey(sql, cipher.keyId)) {
        // One short transaction per row, under its lock, so it never races a refresh.
        const done = await sql.begin(async (tx) => {
          const row = await readTokens(tx, athleteId, { forUpdate: true });
          if (!row || row.keyId === cipher.keyId) return false;
          await replaceCiphertexts(tx, {
            athleteId,
            accessTokenEnc: cipher.encrypt(accessOf(row), athleteId, 'access'),
            refreshTokenEnc: cipher.encrypt(cipher.decrypt(row.refreshTokenEnc, row.keyId, athleteId, 'refresh'), athleteId, 'refresh'),
            keyId: cipher.keyId,
          });
          return true;
        });
        if (done) changed++;
      }
      return changed;
    },
  };
}
