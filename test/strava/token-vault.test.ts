import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../src/config.js';
import { getAthlete, upsertConnectedAthlete } from '../../src/db/repositories/athletes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { NeedsReauthError } from '../../src/strava/errors.js';
import { TokenDecryptionError } from '../../src/strava/token-crypto.js';
import { createTokenVault, type TokenVaultOptions } from '../../src/strava/token-vault.js';
import { useTestDatabase } from '../helpers/database.js';
import { runFixture } from './fixtures/spawn.js';
import { clientFor, countOf, fingerprint, newKey } from './helpers.js';

const db = useTestDatabase();
let emulator: RunningEmulator;
const key1 = newKey();
const key2 = newKey();
const HOUR = 3_600_000;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 5 });
});
afterAll(async () => {
  await emulator?.close();
});

function vaultWith(overrides: Partial<TokenVaultOptions> = {}) {
  return createTokenVault({
    sql: db.sql,
    client: clientFor(emulator),
    key: key1,
    keyId: keyId(key1),
    refreshMarginMs: 5 * 60_000,
    now: () => emulator.now(),
    ...overrides,
  });
}

/** A Strava athlete with tokens issued by the emulator and stored in the vault. */
async function connectedAthlete(vault = vaultWith()) {
  const { id } = await emulator.control.createAthlete({ activities: 1 });
  const issued = await emulator.control.issueTokens(id);
  await upsertConnectedAthlete(db.sql, id, issued.scope.split(','));
  await vault.store(id, issued);
  return { id, issued };
}

const tokenRequests = async () => countOf(await emulator.control.counters(), 'POST /oauth/token');
const rawRow = async (athleteId: number) => {
  const [row] = await db.sql<{ access: Buffer; refresh: Buffer; keyId: string; refreshCount: number }[]>`
    select access_token_enc as access, refresh_token_enc as refresh, key_id as "keyId", refresh_count as "refreshCount"
    from tokens where athlete_id = ${athleteId}`;
  return row!;
};
const works = async (token: string) => (await clientFor(emulator).getAthlete(token)).id;

describe('encryption at rest', () => {
  it('stores ciphertexts that differ from the tokens, with the key id, and decrypts them', async () => {
    const vault = vaultWith();
    const { id, issued } = await connectedAthlete(vault);
    const row = await rawRow(id);
    expect(row.keyId).toBe(keyId(key1));
    for (const [bytes, token] of [
      [row.access, issued.accessToken],
      [row.refresh, issued.refreshToken],
    ] as const) {
      expect(bytes.equals(Buffer.from(token))).toBe(false);
      expect(bytes.includes(Buffer.from(token))).toBe(false);
      expect(bytes.toString('latin1')).not.toContain(token.slice(0, 12));
    }
    const before = await tokenRequests();
    expect(await vault.getAccessToken(id)).toBe(issued.accessToken);
    expect(await tokenRequests()).toBe(before); // fresh token: no refresh
    // Same token stored twice gives different ciphertexts (random nonce).
    await vault.store(id, issued);
    expect((await rawRow(id)).access.equals(row.access)).toBe(false);
  });

  it('rejects a tampered ciphertext and a ciphertext moved to another athlete', async () => {
    const vault = vaultWith();
    const a = await connectedAthlete(vault);
    const b = await connectedAthlete(vault);
    const original = await rawRow(a.id);
    const tampered = Buffer.from(original.access);
    tampered[tampered.length - 1]! ^= 0x01;
    await db.sql`update tokens set access_token_enc = ${tampered} where athlete_id = ${a.id}`;
    const error = await vault.getAccessToken(a.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenDecryptionError);
    expect(String(error)).not.toContain(a.issued.accessToken);

    // b's valid ciphertext copied onto a's row fails too: the AAD binds it to athlete b.
    const other = await rawRow(b.id);
    await db.sql`update tokens set access_token_enc = ${other.access} where athlete_id = ${a.id}`;
    await expect(vault.getAccessToken(a.id)).rejects.toBeInstanceOf(TokenDecryptionError);
    // Swapping columns within a row fails as well.
    await db.sql`update tokens set access_token_enc = ${original.refresh} where athlete_id = ${a.id}`;
    await expect(vault.getAccessToken(a.id)).rejects.toBeInstanceOf(TokenDecryptionError);

    await db.sql`update tokens set access_token_enc = ${original.access} where athlete_id = ${a.id}`;
    expect(await vault.getAccessToken(a.id)).toBe(a.issued.accessToken);
  });

  it('rotates keys: old rows decrypt with the old key listed, reencryptAll moves them, then the old key can go', async () => {
    const old = vaultWith();
    const athletes = [await connectedAthlete(old), await connectedAthlete(old)];
    const rotated = vaultWith({ key: key2, keyId: keyId(key2), oldKeys: [key1] });
    for (const a of athletes) expect(await rotated.getAccessToken(a.id)).toBe(a.issued.accessToken);
    // Without the old key the rows cannot be read.
    const newOnly = vaultWith({ key: key2, keyId: keyId(key2) });
    await expect(newOnly.getAccessToken(athletes[0]!.id)).rejects.toBeInstanceOf(TokenDecryptionError);

    const changed = await rotated.reencryptAll();
    expect(changed).toBeGreaterThanOrEqual(2);
    const [counted] = await db.sql<{ remaining: number }[]>`select count(*)::int as remaining from tokens where key_id <> ${keyId(key2)}`;
    expect(counted!.remaining).toBe(0);
    for (const a of athletes) expect(await newOnly.getAccessToken(a.id)).toBe(a.issued.accessToken);
    expect(await rotated.reencryptAll()).toBe(0);
  });

  it('the rotate-keys command re-encrypts every row under TOKEN_ENCRYPTION_KEY', async () => {
    const a = await connectedAthlete(vaultWith()); // under key1; earlier rows are under key2
    const key3 = newKey();
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'rotate-keys'], {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          TOKEN_ENCRYPTION_KEY: key3.toString('base64'),
          TOKEN_DECRYPTION_KEYS: [key1, key2].map((k) => k.toString('base64')).join(','),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(out))));
    });
    const [counted] = await db.sql<{ total: number }[]>`select count(*)::int as total from tokens`;
    expect(output).toContain(`re-encrypted ${counted!.total} token row(s)`);
    const keyIds = await db.sql<{ keyId: string }[]>`select distinct key_id as "keyId" from tokens`;
    expect(keyIds).toEqual([{ keyId: keyId(key3) }]);
    const only3 = vaultWith({ key: key3, keyId: keyId(key3) });
    expect(await only3.getAccessToken(a.id)).toBe(a.issued.accessToken);
  });
});

describe('refresh', () => {
  it('refreshes inside the margin, commits the new pair, and the new token works', async () => {
    const vault = vaultWith();
    const { id, issued } = await connectedAthlete(vault);
    await emulator.control.advanceClock(6 * HOUR - 4 * 60_000); // 4 minutes left: inside the 5-minute margin
    const before = await tokenRequests();
    const token = await vault.getAccessToken(id);
    expect(await tokenRequests()).toBe(before + 1);
    expect(token).not.toBe(issued.accessToken);
    expect(await works(token)).toBe(id);
    expect((await rawRow(id)).refreshCount).toBe(1);
    expect(await vault.getAccessToken(id)).toBe(token); // fresh again: no second refresh
    expect(await tokenRequests()).toBe(before + 1);
  });

  it('two processes asking at once for an expired token cause exactly one refresh; both get the working token', async () => {
    const { id, issued } = await connectedAthlete();
    await emulator.control.advanceClock(7 * HOUR); // expired
    // A slow token endpoint widens the race window: both processes are inside getAccessToken during the refresh.
    await emulator.control.setFaults({ apiLatencyMs: 300 });
    const before = await tokenRequests();
    const env = {
      DATABASE_URL: db.url,
      EMU_API_URL: emulator.apiUrl,
      EMU_OAUTH_URL: emulator.oauthUrl,
      EMU_CLIENT_ID: emulator.clientId,
      EMU_CLIENT_SECRET: emulator.clientSecret,
      TOKEN_KEY: key1.toString('base64'),
      TOKEN_KEY_ID: keyId(key1),
      ATHLETE_ID: String(id),
      CLOCK_OFFSET_MS: String(emulator.now() - Date.now()),
      START_AT: String(Date.now() + 2_500),
    };
    type Out = { ok: boolean; fingerprint?: string; name?: string };
    const [a, b] = await Promise.all([runFixture<Out>('get-token.ts', env), runFixture<Out>('get-token.ts', env)]);
    await emulator.control.setFaults({ apiLatencyMs: 0 });
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]).toMatchObject({ ok: true });
    expect(b[0]).toMatchObject({ ok: true });
    expect(await tokenRequests()).toBe(before + 1);
    expect(a[0]!.fingerprint).toBe(b[0]!.fingerprint);
    const token = await vaultWith().getAccessToken(id);
    expect(fingerprint(token)).toBe(a[0]!.fingerprint);
    expect(token).not.toBe(issued.accessToken);
    expect(await works(token)).toBe(id);
    expect((await rawRow(id)).refreshCount).toBe(1);
  });

  it('concurrent callers in one process share one refresh', async () => {
    const vault = vaultWith();
    const { id } = await connectedAthlete(vault);
    await emulator.control.advanceClock(7 * HOUR);
    const before = await tokenRequests();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => vault.getAccessToken(id)));
    expect(new Set(tokens).size).toBe(1);
    expect(await tokenRequests()).toBe(before + 1);
  });

  it("with the emulator's default refresh-token rotation (every refresh), 20 refreshes in a row never lose the athlete", async () => {
    // Rotation is on by default (Strava may rotate at any refresh): every test in this file runs with it.
    const config = (await (await fetch(`${emulator.baseUrl}/_emulator/config`)).json()) as { refreshRotation: unknown };
    expect(config.refreshRotation).toBe('always');
    const vault = vaultWith();
    const { id } = await connectedAthlete(vault);
    const refreshTokens = new Set<string>();
    for (let i = 0; i < 20; i++) {
      await emulator.control.advanceClock(6 * HOUR);
      const token = await vault.getAccessToken(id);
      expect(await works(token)).toBe(id);
      const row = await rawRow(id);
      refreshTokens.add(row.refresh.toString('hex'));
    }
    expect((await rawRow(id)).refreshCount).toBe(20);
    expect(refreshTokens.size).toBe(20);
    expect((await getAthlete(db.sql, id))!.state).not.toBe('needs_reauth');
  });

  it('a rejected refresh token marks the athlete needs_reauth and raises a non-retryable error, once', async () => {
    const vault = vaultWith();
    const { id, issued } = await connectedAthlete(vault);
    await emulator.control.revokeAthlete(id); // the athlete revoked the app on Strava: the refresh token is dead
    await emulator.control.advanceClock(7 * HOUR);
    const before = await tokenRequests();
    const error = await vault.getAccessToken(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NeedsReauthError);
    expect(error).toMatchObject({ name: 'NeedsReauthError', retryable: false, athleteId: id, reason: 'refresh_token_invalid' });
    expect(String(error)).not.toContain(issued.refreshToken);
    expect((await getAthlete(db.sql, id))!.state).toBe('needs_reauth');
    expect(await tokenRequests()).toBe(before + 1);
    // Nothing sends the dead refresh token again: later calls fail without calling Strava.
    await expect(vault.getAccessToken(id)).rejects.toBeInstanceOf(NeedsReauthError);
    expect(await tokenRequests()).toBe(before + 1);

    // Reconnecting (new tokens stored) brings the athlete back.
    const again = await emulator.control.issueTokens(id);
    await upsertConnectedAthlete(db.sql, id, again.scope.split(','));
    await vault.store(id, again);
    expect(await works(await vault.getAccessToken(id))).toBe(id);
  });

  it("Strava's 401 Application variant from /oauth/token (wrong client secret) never costs the athlete their tokens", async () => {
    const { id } = await connectedAthlete();
    await emulator.control.advanceClock(7 * HOUR); // expired: a refresh is needed
    await emulator.control.setFaults({ unauthorizedVariant: 'application' });
    try {
      const misconfigured = vaultWith({ client: clientFor(emulator, { clientSecret: 'not-the-secret' }) });
      const error = await misconfigured.getAccessToken(id).catch((e: unknown) => e);
      // App-wide and slowly retryable, never the athlete's token_invalid/needs_reauth (which would purge them).
      expect(error).toMatchObject({ name: 'StravaAppForbiddenError', kind: 'app_forbidden', status: 401, retryable: true });
      expect((await getAthlete(db.sql, id))!.state).not.toBe('needs_reauth');
      expect((await rawRow(id)).refreshCount).toBe(0);
    } finally {
      await emulator.control.setFaults({ unauthorizedVariant: 'athlete' });
    }
    // With the right secret the same stored refresh token still works.
    expect(await works(await vaultWith().getAccessToken(id))).toBe(id);
  });

  it('hands out the still-valid token when the refresh fails transiently', async () => {
    const { id, issued } = await connectedAthlete();
    await emulator.control.advanceClock(6 * HOUR - 3 * 60_000); // refresh due, but 3 minutes of validity left
    const down = await startEmulator();
    await down.close();
    const vault = vaultWith({ client: clientFor(down) });
    expect(await vault.getAccessToken(id)).toBe(issued.accessToken);
    await emulator.control.advanceClock(2 * 60_000 + 30_000); // 30 s left: not worth handing out
    await expect(vault.getAccessToken(id)).rejects.toMatchObject({ name: 'StravaServerError', retryable: true });
  });
});
