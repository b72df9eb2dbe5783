import express, { type RequestHandler } from 'express';
import { HttpError } from './errors.js';

/**
 * The JSON body parser of the admin and athlete routes. express.json() alone skips a body in another content
 * type and the route then sees no body at all: `POST /admin/sync` with `{"athleteIds":[1]}` sent as text/plain
 * would sync every athlete. A body in any other type is refused with 415 instead.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (hasBody && !req.is('application/json')) {
      next(new HttpError(415, 'unsupported_media_type', 'send the request body as application/json'));
      return;
    }
    next();
  };
  return [requireJson, express.json({ limit })];
}
