import type { RequestHandler } from 'express';

/**
 * CORS for the athlete routes: an app's pages on CLIENT_ORIGINS may call them with a client token from the
 * browser (fetch with Authorization, EventSource). Credentials are headers, never cookies, so no
 * Allow-Credentials; any other origin gets no CORS headers and the browser keeps the answer from it. Runs before
 * authentication, so a preflight (which carries no credentials) is answered and refusals stay readable.
 */
export function clientCors(allowedOrigins: string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined || !allowed.has(origin)) {
      next();
      return;
    }
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res
        .set({
          'Access-Control-Allow-Methods': 'GET, POST',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID',
          'Access-Control-Max-Age': '600',
        })
        .status(204)
        .end();
      return;
    }
    res.set('Access-Control-Expose-Headers', 'Location, Retry-After, WWW-Authenticate');
    next();
  };
}
