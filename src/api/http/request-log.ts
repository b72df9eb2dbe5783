import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/**
 * One structured line per request. Only the path is logged, never the query string or body (the OAuth callback
 * carries a code and state, the handshake a verify token); secret path segments are masked as well.
 */
export function requestLog(logger: Logger, secretPathSegments: string[] = []): RequestHandler {
  const masks = secretPathSegments.filter(Boolean);
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      let path = req.originalUrl.split('?')[0] ?? '';
      for (const secret of masks) path = path.split(secret).join('[redacted]');
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
      logger[level]({ method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}
