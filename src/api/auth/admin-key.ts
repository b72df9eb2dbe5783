import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpError } from '../http/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * `Authorization: Bearer <ADMIN_API_KEY>`. Both sides are hashed first so the comparison takes the same time
 * whatever the length or content of the presented key.
 */
export function requireAdminKey(adminApiKey: string): RequestHandler {
  const expected = digest(adminApiKey);
  return (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      next(new HttpError(401, 'unauthorized', 'missing admin API key: send Authorization: Bearer <ADMIN_API_KEY>', { 'WWW-Authenticate': 'Bearer' }));
      return;
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      next(new HttpError(401, 'unauthorized', 'invalid admin API key', { 'WWW-Authenticate': 'Bearer error="invalid_token"' }));
      return;
    }
    next();
  };
}
