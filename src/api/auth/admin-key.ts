import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../http/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * `Authorization: Bearer <ADMIN_API_KEY>`. Both sides are hashed first so the comparison takes the same time
 * whatever the length or content of the presented key.
 */
export function requireAdminKey(adminApiKey: string): RequestHandler {
  return requireBearer([adminApiKey], 'admin API key', 'ADMIN_API_KEY');
}

/**
 * `Authorization: Bearer <METRICS_TOKEN or ADMIN_API_KEY>` for /metrics: its counters say which webhook events were
 * ignored and why, which the webhook's answer deliberately does not (docs/webhooks.md, threat model).
 */
export function requireMetricsToken(adminApiKey: string, metricsToken: string | undefined): RequestHandler {
  return metricsToken === undefined
    ? requireAdminKey(adminApiKey)
    : requireBearer([metricsToken, adminApiKey], 'metrics token', 'METRICS_TOKEN');
}

function requireBearer(accepted: string[], what: string, setting: string): RequestHandler {
  const expected = accepted.map(digest);
  return (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      next(new HttpError(401, 'unauthorized', `missing ${what}: send Authorization: Bearer <${setting}>`, { 'WWW-Authenticate': 'Bearer' }));
      return;
    }
    const presented = digest(match[1]!);
    // Compare against every accepted key, so the time taken does not tell which one matched.
    const matched = expected.map((key) => timingSafeEqual(presented, key)).some(Boolean);
    if (!matched) {
      next(new HttpError(401, 'unauthorized', `invalid ${what}`, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }));
      return;
    }
    next();
  };
}
