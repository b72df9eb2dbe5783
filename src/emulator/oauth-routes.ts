/**
 * Strava's OAuth endpoints: the consent page (auto-approving, steerable by query parameters for tests), the
 * token endpoint for both grants with Strava's response fields and 400 Faults, and deauthorization.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context.js';
import { FAULTS, badCodeBody, faultBody } from './faults.js';
import { readParams, redirect, sendJson } from './http.js';

export const KNOWN_SCOPES = new Set(['read', 'read_all', 'profile:read_all', 'profile:write', 'activity:read', 'activity:read_all', 'activity:write']);

const invalidScope = faultBody('Bad Request', 'Authorize', 'scope', 'invalid');
const invalidRedirect = faultBody('Bad Request', 'Application', 'redirect_uri', 'invalid');
const invalidResponseType = faultBody('Bad Request', 'Authorize', 'response_type', 'invalid');
const invalidGrantType = faultBody('Bad Request', 'Application', 'grant_type', 'invalid');

function splitScopes(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The scopes granted when the athlete leaves only `ticked` on the consent page. Strava's page shows
 * activity:read_all as "view data about your activities" with a separate "private activities" box: unticking
 * that box still grants activity:read (the shared notes' `read,activity:read` for a `read,activity:read_all`
 * request). Every other scope is granted exactly when ticked.
 */
function grantedScopes(requested: string[], ticked: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const scope of requested) {
    const grant = ticked.has(scope) ? scope : scope === 'activity:read_all' && ticked.has('activity:read') ? 'activity:read' : undefined;
    if (grant && !out.includes(grant)) out.push(grant);
  }
  return out;
}

/** Builds the redirect like Strava does: commas and colons in the scope list are left as they are. */
function withQuery(base: string, pairs: [string, string][]): string {
  const query = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2C/g, ',').replace(/%3A/g, ':')}`).join('&');
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

export async function handleOAuth(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, endpoint: (name: string) => void): Promise<void> {
  const path = url.pathname;
  if (req.method === 'GET' && path === '/oauth/authorize') {
    endpoint('GET /oauth/authorize');
    return authorize(ctx, res, url);
  }
  if (req.method === 'POST' && path === '/oauth/token') {
    endpoint('POST /oauth/token');
    return token(ctx, res, await readParams(req, url));
  }
  if (req.method === 'POST' && path === '/oauth/deauthorize') {
    endpoint('POST /oauth/deauthorize');
    const params = await readParams(req, url);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    return deauthorize(ctx, res, params.access_token ?? bearer);
  }
  endpoint('unknown');
  sendJson(res, 404, FAULTS.routeNotFound);
}

function authorize(ctx: EmulatorContext, res: ServerResponse, url: URL): void {
  const q = url.searchParams;
  if (q.get('client_id') !== ctx.options.clientId) return sendJson(res, 400, FAULTS.badClientId);
  const redirectUri = q.get('redirect_uri');
  let target: URL;
  try {
    target = new URL(redirectUri ?? '');
  } catch {
    return sendJson(res, 400, invalidRedirect);
  }
  if (q.get('response_type') !== 'code') return sendJson(res, 400, invalidResponseType);
  const requested = q.has('scope') ? splitScopes(q.get('scope') ?? '') : ['read'];
  if (requested.some((scope) => !KNOWN_SCOPES.has(scope))) return sendJson(res, 400, invalidScope);
  const state = q.get('state') ?? '';
  const base = target.toString();
  if (q.get('approve') === 'false') return redirect(res, withQuery(base, [['state', state], ['error', 'access_denied']]));
  const athleteParam = q.get('athlete_id');
  const athleteId = athleteParam ? Number(athleteParam) : undefined;
  if (athleteId !== undefined && !Number.isSafeInteger(athleteId)) return sendJson(res, 400, faultBody('Bad Request', 'Athlete', 'athlete_id', 'invalid'));
  const athlete = ctx.store.athleteOrCreate(athleteId);
  // The athlete may untick scopes: grant_scope (this request) or the athlete's consent setting (control API)
  // is what they left ticked, possibly nothing. Strava redirects with the scopes actually granted.
  const ticked = q.has('grant_scope') ? new Set(splitScopes(q.get('grant_scope') ?? '')) : athlete.consentScopes;
  const granted = ticked ? grantedScopes(requested, ticked) : requested;
  const code = ctx.tokens.issueCode(athlete.id, new Set(granted), ctx.clock.nowSeconds());
  redirect(res, withQuery(base, [['state', state], ['code', code], ['scope', granted.join(',')]]));
}

function token(ctx: EmulatorContext, res: ServerResponse, params: Record<string, string>): void {
  const badClient = params.client_id !== ctx.options.clientId || params.client_secret !== ctx.options.clientSecret;
  // The Application 401 variant, pasted from token exchanges with a wrong app configuration
  // (node-strava/node-strava-v3 #37, iamstuartwilson/strava #28).
  if (badClient && ctx.faults.unauthorizedVariant === 'application') return sendJson(res, 401, FAULTS.invalidTokenApplication);
  if (params.client_id !== ctx.options.clientId) return sendJson(res, 400, FAULTS.badClientId);
  if (params.client_secret !== ctx.options.clientSecret) return sendJson(res, 400, FAULTS.badClientSecret);
  const nowS = ctx.clock.nowSeconds();
  if (params.grant_type === 'authorization_code') {
    const result = params.code ? ctx.tokens.exchangeCode(params.code, nowS) : undefined;
    if (!result) return sendJson(res, 400, badCodeBody(ctx.faults));
    const athlete = ctx.store.athletes.get(result.athleteId);
    return sendJson(
      res,
      200,
      JSON.stringify({
        token_type: 'Bearer',
        expires_at: result.accessToken.expiresAtS,
        expires_in: result.accessToken.expiresAtS - nowS,
        refresh_token: result.refreshToken,
        access_token: result.accessToken.token,
        athlete: athlete?.profile ?? { id: result.athleteId, resource_state: 1 },
      }),
    );
  }
  if (params.grant_type === 'refresh_token') {
    const result = params.refresh_token ? ctx.tokens.refresh(params.refresh_token, nowS) : undefined;
    if (!result) return sendJson(res, 400, FAULTS.badRefreshToken);
    return sendJson(
      res,
      200,
      JSON.stringify({
        token_type: 'Bearer',
        access_token: result.accessToken.token,
        expires_at: result.accessToken.expiresAtS,
        expires_in: result.accessToken.expiresAtS - nowS,
        refresh_token: result.refreshToken,
      }),
    );
  }
  sendJson(res, 400, invalidGrantType);
}

/**
 * Unlike /oauth/token, deauthorize is counted toward the application's rate limits and answers with the
 * rate-limit headers: strava-ruby-client's recorded exchange (spec/fixtures/strava/client/deauthorize.yml, 2018)
 * carries X-RateLimit-Limit and X-RateLimit-Usage. That recording predates the read limits, so the
 * X-ReadRateLimit-* headers here, and never refusing it with 429 over the limit, are UNCONFIRMED.
 */
function deauthorize(ctx: EmulatorContext, res: ServerResponse, accessToken: string | undefined): void {
  const { headers } = ctx.rateLimiter.hit(ctx.clock.now());
  const record = accessToken ? ctx.tokens.authenticate(accessToken, ctx.clock.nowSeconds()) : undefined;
  if (!record || !accessToken) return sendJson(res, 401, FAULTS.invalidToken, headers);
  // Same path as a revocation from Strava's settings page: tokens die and the deauthorization event is sent.
  ctx.store.revokeAthlete(record.athleteId);
  sendJson(res, 200, JSON.stringify({ access_token: accessToken }), headers);
}
