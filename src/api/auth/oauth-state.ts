import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The OAuth `state`: `<payload>.<signature>`, both base64url. The payload binds a random nonce (replay key),
 * the expiry and the return_to URL; the HMAC-SHA256 signature under OAUTH_STATE_SECRET makes it tamper-proof,
 * so the server keeps nothing until the callback arrives.
 */
const payloadSchema = z.object({
  n: z.string().min(16),
  e: z.number().int(),
  r: z.string().nullable(),
});
export type OAuthStatePayload = { nonce: string; expiresAt: number; returnTo: string | null };

export type StateCheck =
  | { ok: true; payload: OAuthStatePayload }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const sign = (secret: string, body: string): string => createHmac('sha256', secret).update(body).digest('base64url');

export function createOAuthState(secret: string, returnTo: string | null, ttlMs: number, now: number): string {
  return createOAuthStateWithNonce(secret, returnTo, ttlMs, now).state;
}

/** The state and its nonce (which /auth/strava also binds to the browser in a cookie). */
export function createOAuthStateWithNonce(secret: string, returnTo: string | null, ttlMs: number, now: number): { state: string; nonce: string } {
  const nonce = randomBytes(18).toString('base64url');
  const body = Buffer.from(JSON.stringify({ n: nonce, e: now + ttlMs, r: returnTo })).toString('base64url');
  return { state: `${body}.${sign(secret, body)}`, nonce };
}

export function verifyOAuthState(secret: string, state: string, now: number): StateCheck {
  const [body, signature, extra] = state.split('.');
  if (!body || !signature || extra !== undefined) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(sign(secret, body));
  const presented = Buffer.from(signature);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return { ok: false, reason: 'bad_signature' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const parsed = payloadSchema.safeParse(decoded);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  if (parsed.data.e <= now) return { ok: false, reason: 'expired' };
  return { ok: true, payload: { nonce: parsed.data.n, expiresAt: parsed.data.e, returnTo: parsed.data.r } };
}
