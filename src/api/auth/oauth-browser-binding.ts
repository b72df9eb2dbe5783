import { createHash, timingSafeEqual } from 'node:crypto';
import type { CookieOptions, Request, Response } from 'express';

/**
 * Binds an OAuth `state` to the browser that started the flow (login CSRF): /auth/strava sets a cookie holding
 * a hash of the state's nonce, and the callback accepts the state only from a browser that presents it. An
 * attacker who starts a flow and sends the victim their callback URL (to connect the attacker's Strava account
 * in the victim's session) has no way to plant the cookie in the victim's browser.
 */
export const OAUTH_COOKIE = 'strava_sync_oauth';

const nonceHash = (nonce: string): string => createHash('sha256').update(nonce).digest('base64url');

function cookieOptions(callbackPath: string, publicUrl: string): CookieOptions {
  return {
    httpOnly: true,
    // Lax: sent on the top-level GET navigation from Strava back to the callback, not on cross-site subrequests.
    sameSite: 'lax',
    secure: new URL(publicUrl).protocol === 'https:',
    path: callbackPath,
  };
}

export function setBindingCookie(res: Response, nonce: string, ttlMs: number, callbackPath: string, publicUrl: string): void {
  res.cookie(OAUTH_COOKIE, nonceHash(nonce), { ...cookieOptions(callbackPath, publicUrl), maxAge: ttlMs });
}

/** One use: the callback clears the cookie whatever its outcome. */
export function clearBindingCookie(res: Response, callbackPath: string, publicUrl: string): void {
  res.clearCookie(OAUTH_COOKIE, cookieOptions(callbackPath, publicUrl));
}

export type BindingCheck = 'ok' | 'missing' | 'mismatch';

/** Does the browser's cookie (parsed by cookie-parser) hold this state's nonce? */
export function checkBindingCookie(req: Request, nonce: string): BindingCheck {
  const presented: unknown = (req.cookies as Record<string, unknown> | undefined)?.[OAUTH_COOKIE];
  if (typeof presented !== 'string' || presented === '') return 'missing';
  const expected = Buffer.from(nonceHash(nonce));
  const actual = Buffer.from(presented);
  return actual.length === expected.length && timingSafeEqual(actual, expected) ? 'ok' : 'mismatch';
}
