import cookieParser from 'cookie-parser';
import { Router, type Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { removeOnlyYouActivities } from '../../db/repositories/activities.js';
import { getAthlete, upsertConnectedAthlete } from '../../db/repositories/athletes.js';
import { consumeOAuthState } from '../../db/repositories/oauth-states.js';
import { StravaError } from '../../strava/errors.js';
import { athleteWorkflowId, type AthleteGateway } from '../../temporal/athlete-gateway.js';
import { errorBody, HttpError, parseInput } from '../http/errors.js';
import type { ApiStrava } from '../strava-deps.js';
import { checkBindingCookie, clearBindingCookie, setBindingCookie } from './oauth-browser-binding.js';
import { createOAuthStateWithNonce, verifyOAuthState } from './oauth-state.js';
import { resolveReturnTo, withParams } from './return-to.js';
import { ACTIVITY_SCOPES, callbackQuerySchema, connectQuerySchema, REQUESTED_SCOPE } from './schemas.js';

export interface OAuthRouterDeps {
  config: Config;
  sql: Sql;
  strava: ApiStrava;
  workflows: AthleteGateway;
  logger: Logger;
  now: () => number;
  stateTtlMs: number;
}

export const CALLBACK_PATH = '/auth/strava/callback';

const STATE_REJECTIONS = {
  malformed: 'the OAuth state is malformed; start again from /auth/strava',
  bad_signature: 'the OAuth state was not issued by this server (signature mismatch); start again from /auth/strava',
  expired: 'the OAuth state has expired; start again from /auth/strava',
  missing: 'this browser did not start this connect flow (no OAuth cookie: cookies blocked, or a link from someone else); start again from /auth/strava',
  mismatch: 'the OAuth state belongs to a connect flow started in another browser or tab; start again from /auth/strava',
} as const;

/** `/auth/strava` and its callback: the OAuth connect flow. */
export function oauthRouter(deps: OAuthRouterDeps): Router {
  const { config, sql, strava, workflows, logger, now } = deps;
  const router = Router();
  const redirectUri = new URL(CALLBACK_PATH, config.PUBLIC_URL).toString();

  router.get('/auth/strava', (req, res) => {
    const query = parseInput(connectQuerySchema, req.query, 'query');
    let returnTo: string | null = null;
    if (query.return_to !== undefined) {
      returnTo = resolveReturnTo(query.return_to, config.PUBLIC_URL, config.ALLOWED_RETURN_ORIGINS) ?? null;
      if (!returnTo) {
        throw new HttpError(400, 'invalid_return_to', 'return_to must be on the same origin as PUBLIC_URL or on one of ALLOWED_RETURN_ORIGINS');
      }
    }
    const { state, nonce } = createOAuthStateWithNonce(config.OAUTH_STATE_SECRET, returnTo, deps.stateTtlMs, now());
    setBindingCookie(res, nonce, deps.stateTtlMs, CALLBACK_PATH, config.PUBLIC_URL);
    res.redirect(302, strava.client.authorizeUrl({ redirectUri, scope: REQUESTED_SCOPE, state, approvalPrompt: 'auto' }));
  });

  router.get(CALLBACK_PATH, cookieParser(), async (req, res) => {
    // The cookie serves one callback, whatever its outcome (it is sent with the error answers too).
    clearBindingCookie(res, CALLBACK_PATH, config.PUBLIC_URL);
    const query = parseInput(callbackQuerySchema, req.query, 'query');
    const check = verifyOAuthState(config.OAUTH_STATE_SECRET, query.state, now());
    if (!check.ok) throw new HttpError(400, `invalid_state`, STATE_REJECTIONS[check.reason]);
    // Checked before the state is consumed: a state arriving in the wrong browser changes nothing.
    const binding = checkBindingCookie(req, check.payload.nonce);
    if (binding !== 'ok') throw new HttpError(400, 'invalid_state', STATE_REJECTIONS[binding]);
    // One use per state, whatever the outcome: a replayed callback (and its code) is refused.
    if (!(await consumeOAuthState(sql, check.payload.nonce, new Date(check.payload.expiresAt)))) {
      throw new HttpError(400, 'invalid_state', 'the OAuth state was already used; start again from /auth/strava');
    }
    const returnTo = check.payload.returnTo;

    if (query.error) {
      const denied = query.error === 'access_denied';
      return fail(res, returnTo, denied ? 403 : 400, denied ? 'access_denied' : 'authorization_failed',
        denied ? 'the athlete declined to connect their Strava account; nothing was stored' : `Strava reported an authorization error: ${query.error}`);
    }
    if (!query.code) throw new HttpError(400, 'invalid_request', 'invalid query: code is required when error is absent');

    // Checked before the code exchange, so a grant that cannot be used never turns into stored tokens.
    const scopes = (query.scope ?? '').split(/[,\s]+/).filter(Boolean);
    if (!scopes.some((scope) => (ACTIVITY_SCOPES as readonly string[]).includes(scope))) {
      return fail(res, returnTo, 403, 'insufficient_scope',
        'Strava access was granted without permission to read activities (activity:read or activity:read_all), so ' +
        'there is nothing to sync and the athlete was not connected. Connect again and keep "View data about your ' +
        'activities" ticked on the Strava consent page.');
    }

    let exchanged: Awaited<ReturnType<ApiStrava['client']['exchangeCode']>>;
    try {
      exchanged = await strava.client.exchangeCode(query.code);
    } catch (error) {
      const failure = exchangeFailure(error);
      if (failure === 'invalid_code') {
        logger.warn({ err: error }, 'authorization code exchange failed');
        return fail(res, returnTo, 400, 'invalid_code', 'Strava refused the authorization code (expired or already used); start again from /auth/strava');
      }
      if (failure === 'misconfigured') {
        // No athlete can connect until an operator fixes STRAVA_CLIENT_ID / STRAVA_CLIENT_SECRET (or the app at Strava).
        logger.error({ err: error }, 'Strava refused the application credentials during the code exchange');
        return fail(res, returnTo, 503, 'service_misconfigured',
          "Strava refused this service's application credentials: the service is misconfigured (a problem on our " +
          'side, not with your Strava account). Nothing was stored; try connecting again later.');
      }
      logger.warn({ err: error }, 'authorization code exchange failed');
      throw new HttpError(502, 'strava_unavailable', 'Strava did not complete the code exchange; try connecting again shortly');
    }
    const athleteId = exchanged.athlete.id;

    const previous = await getAthlete(sql, athleteId);
    await sql.begin(async (tx) => {
      await upsertConnectedAthlete(tx, athleteId, scopes, athleteName(exchanged.athlete));
      await strava.vault.store(athleteId, exchanged.tokens, tx);
      // Reconnected without "private activities": what an earlier activity:read_all grant imported must go.
      if (!scopes.includes('activity:read_all')) await removeOnlyYouActivities(tx, athleteId);
    });
    const reconnected = previous?.state === 'needs_reauth';
    // An athlete connected before may still have a running workflow: waiting for a reconnect, about to carry out a
    // disconnect, or purging and about to end. `reconnected` (signal-with-start) tells that run the athlete is back
    // (it cancels the disconnect, or starts afresh after the purge); a start would join it and leave the athlete
    // purged, or with no workflow at all.
    const mayBeRunning = previous !== undefined;
    try {
      if (mayBeRunning) await workflows.reconnected(athleteId);
      else await workflows.start(athleteId);
    } catch (error) {
      logger.error({ err: error, athleteId }, 'could not start the athlete workflow after connect');
      return fail(res, returnTo, 503, 'temporal_unavailable',
        'the Strava account is connected but its sync could not be started (workflow service unavailable); connect again shortly to retry');
    }
    logger.info({ athleteId, scopes, reconnected }, 'athlete connected');
    if (returnTo) {
      res.redirect(303, withParams(returnTo, { strava: 'connected', athlete_id: String(athleteId) }));
      return;
    }
    res.status(200).json({ athleteId, status: 'connected', scopes, workflowId: athleteWorkflowId(athleteId), reconnected });
  });

  return router;
}

/** "First Last" as Strava gave it (bounded: it is stored and shown on the management page, as text). */
function athleteName(athlete: { firstname?: string | null | undefined; lastname?: string | null | undefined }): string | null {
  const name = [athlete.firstname, athlete.lastname].filter((part) => typeof part === 'string' && part.trim()).join(' ').trim();
  return name ? name.slice(0, 200) : null;
}

/**
 * What a failed code exchange means for the person connecting. Strava's answers to a bad code name the code
 * (AuthorizationCode/code/invalid, AuthorizationCode//expired, RequestToken/code/invalid): start again. A 401
 * (Strava's Application//invalid, classified app_forbidden), a 403, or a 400 naming the Application (client id,
 * client secret) is this service's configuration, which no new code fixes. Anything else: Strava failed.
 */
function exchangeFailure(error: unknown): 'invalid_code' | 'misconfigured' | 'unavailable' {
  if (!(error instanceof StravaError)) return 'unavailable';
  if (error.kind === 'app_forbidden') return 'misconfigured';
  if (error.kind !== 'bad_request') return 'unavailable';
  return error.errors.some((e) => e.resource === 'Application') ? 'misconfigured' : 'invalid_code';
}

/** A failed connect: back to the client app with the error code when it gave a return_to, JSON otherwise. */
function fail(res: Response, returnTo: string | null, status: number, code: string, message: string): void {
  if (returnTo) {
    res.redirect(303, withParams(returnTo, { strava: 'error', error: code, error_description: message }));
    return;
  }
  res.status(status).json(errorBody(code, message));
}
