import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { HttpError } from '../http/errors.js';
import type { ClientAbility } from './client-token-schemas.js';
import type { ClientClaims, ClientTokens } from './client-tokens.js';

/**
 * Who may call `/athletes/*`: the admin key everywhere, a client token only on the routes listed here, for its
 * own athlete and with the ability the route needs. The list is the whole token model in one place, and a route
 * missing from it (a new one included) stays admin-only until someone decides otherwise.
 */

interface ClientRoute {
  method: 'GET' | 'POST';
  /** Matched against the path below /athletes; group 1 is the athlete id segment. */
  path: RegExp;
  ability: ClientAbility;
  /** EventSource cannot set headers: the token may come as ?access_token= (never logged: see request-log.ts). */
  queryToken?: true;
}

export const CLIENT_ROUTES: readonly ClientRoute[] = [
  { method: 'GET', path: /^\/([^/]+)\/?$/, ability: 'read' },
  { method: 'GET', path: /^\/([^/]+)\/activities\/?$/, ability: 'read' },
  { method: 'POST', path: /^\/([^/]+)\/focus\/?$/, ability: 'focus' },
  { method: 'POST', path: /^\/([^/]+)\/sync\/?$/, ability: 'sync' },
  { method: 'GET', path: /^\/([^/]+)\/sync\/[^/]+\/?$/, ability: 'sync' },
  { method: 'POST', path: /^\/([^/]+)\/resync\/?$/, ability: 'sync' },
  { method: 'GET', path: /^\/([^/]+)\/events\/?$/, ability: 'events', queryToken: true },
];

export type AthleteAccess = { kind: 'admin' } | ({ kind: 'client' } & ClientClaims);

/** What athleteAccess decided for this request (routes may narrow what they show a client). */
export const accessOf = (res: Response): AthleteAccess | undefined => res.locals.access as AthleteAccess | undefined;

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
const challenge = (error?: string) => ({ 'WWW-Authenticate': error ? `Bearer error="${error}"` : 'Bearer' });

export function athleteAccess(options: { adminApiKey: string; tokens: ClientTokens }): RequestHandler {
  const adminKey = digest(options.adminApiKey);
  return async (req, res, next) => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const route = CLIENT_ROUTES.find((r) => r.method === method && r.path.test(req.path));
    const header = req.get('authorization');
    let presented: string | undefined;
    if (header !== undefined) {
      presented = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    } else if (route?.queryToken && typeof req.query.access_token === 'string') {
      presented = req.query.access_token;
    }
    if (!presented) {
      throw new HttpError(401, 'unauthorized', 'missing credentials: send Authorization: Bearer <ADMIN_API_KEY or a client token>', challenge());
    }
    // Hashed first, so the comparison takes the same time whatever the length of what was presented.
    if (timingSafeEqual(digest(presented), adminKey)) {
      res.locals.access = { kind: 'admin' } satisfies AthleteAccess;
      next();
      return;
    }
    const outcome = await options.tokens.verify(presented);
    if (!outcome.ok) {
      const message = outcome.reason === 'expired' ? 'the client token has expired; ask the app for a new one' : 'invalid admin key or client token';
      throw new HttpError(401, 'unauthorized', message, challenge('invalid_token'));
    }
    const { claims } = outcome;
    const forbidden = (message: string) => new HttpError(403, 'forbidden', message, challenge('insufficient_scope'));
    if (!route) throw forbidden('client tokens may not use this route: it needs the admin key');
    if (route.path.exec(req.path)?.[1] !== String(claims.athleteId)) throw forbidden('the client token is for another athlete');
    if (!claims.abilities.includes(route.ability)) throw forbidden(`the client token lacks the "${route.ability}" ability this route needs`);
    res.locals.access = { kind: 'client', ...claims } satisfies AthleteAccess;
    next();
  };
}
