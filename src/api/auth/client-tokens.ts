import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { z } from 'zod';
import { keyId } from '../../config.js';
import { CLIENT_ABILITIES, type ClientAbility } from './client-token-schemas.js';

/**
 * Per-athlete client tokens: JWTs (HS256, jose) that let an app's browser or phone call one athlete's routes with
 * some abilities, for a bounded time, without ever holding the admin key. Keys come from CLIENT_TOKEN_KEYS: the
 * first signs (its fingerprint is the `kid`), every listed key verifies, so a key rotates by prepending a new one
 * and dropping the old one once the longest token lifetime has passed.
 */

const ISSUER = 'strava-sync';
const AUDIENCE = 'strava-sync:athlete';

export interface ClientClaims {
  athleteId: number;
  abilities: ClientAbility[];
  expiresAt: Date;
}

export type VerifyOutcome = { ok: true; claims: ClientClaims } | { ok: false; reason: 'expired' | 'invalid' };

export interface ClientTokens {
  mint(athleteId: number, abilities: readonly ClientAbility[], ttlSeconds: number): Promise<{ token: string; expiresAt: Date }>;
  verify(token: string): Promise<VerifyOutcome>;
}

/** The claims a token of ours carries beyond the registered ones; anything else is not one of ours. */
const payloadSchema = z.object({
  sub: z.string().regex(/^[1-9]\d{0,15}$/).transform(Number).refine(Number.isSafeInteger),
  scope: z
    .string()
    .transform((text) => text.split(' '))
    .pipe(z.array(z.enum(CLIENT_ABILITIES)).min(1)),
  exp: z.number().int(),
});

export function createClientTokens(options: { keys: Buffer[]; now?: () => number }): ClientTokens {
  const [signing] = options.keys;
  if (!signing) throw new RangeError('at least one client token key is needed');
  const now = options.now ?? Date.now;
  const signingKid = keyId(signing);
  const byKid = new Map(options.keys.map((key) => [keyId(key), new Uint8Array(key)]));

  const keyFor = (header: JWTHeaderParameters): Uint8Array => {
    const key = header.kid !== undefined ? byKid.get(header.kid) : undefined;
    // jose turns this into a verification failure: a kid we never had, or a key since retired.
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };

  return {
    async mint(athleteId, abilities, ttlSeconds) {
      const issuedAt = Math.floor(now() / 1000);
      const expiresAt = issuedAt + ttlSeconds;
      const token = await new SignJWT({ scope: [...new Set(abilities)].join(' ') })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: signingKid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(String(athleteId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .setJti(randomUUID())
        .sign(new Uint8Array(signing));
      return { token, expiresAt: new Date(expiresAt * 1000) };
    },

    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, keyFor, {
          // Only what we sign: `none` and every other algorithm (an attacker's RS/HS confusion) are refused.
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: 'JWT',
          requiredClaims: ['sub', 'exp', 'iat', 'scope'],
          currentDate: new Date(now()),
        });
        const parsed = payloadSchema.safeParse(payload);
        if (!parsed.success) return { ok: false, reason: 'invalid' };
        return { ok: true, claims: { athleteId: parsed.data.sub, abilities: parsed.data.scope, expiresAt: new Date(parsed.data.exp * 1000) } };
      } catch (error) {
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
        if (error instanceof errors.JOSEError || error instanceof TypeError) return { ok: false, reason: 'invalid' };
        throw error;
      }
    },
  };
}
