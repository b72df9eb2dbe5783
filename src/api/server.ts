import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ApiApp } from './app.js';
import { errorBody } from './http/errors.js';

export interface RunningServer {
  server: Server;
  port: number;
  /** http://127.0.0.1:<port> (or the host given). */
  url: string;
  /**
   * Graceful stop: refuse new connections, end SSE streams, let in-flight requests finish (up to graceMs,
   * then cut what is left), stop the webhook relay after its batch in flight.
   */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  port: number;
  host?: string;
  logger?: Logger;
  /** Start the webhook inbox relay, the inbox, sync history and change log retention and the subscription check with the listener (default true). */
  relay?: boolean;
  /** Start the settings passes (src/api/settings) with the listener (default true). */
  settingsPasses?: boolean;
}

export async function startServer(app: ApiApp, options: StartOptions): Promise<RunningServer> {
  const server = createServer(app);
  // A slow client must not hold a connection (and graceful shutdown) for long.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', answerClientError);
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const runRelay = options.relay ?? true;
  if (runRelay) {
    app.relay.start();
    app.inboxRetention.start();
    app.syncHistoryRetention.start();
    app.changeLogRetention.start();
    app.subscriptionHealth.start();
  }
  const runSettings = options.settingsPasses ?? true;
  if (runSettings) app.settingsSync.start();
  options.logger?.info({ port, host }, 'api listening');

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000): Promise<void> =>
    (stopping ??= (async () => {
      options.logger?.info('api stopping: finishing in-flight requests');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Streams never finish by themselves: end them so their connections can close.
      await app.streams.close();
      // Keep-alive connections between requests would hold close() open; drop them as they turn idle.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearInterval(sweep);
      clearTimeout(timer);
      if (timedOut) {
        options.logger?.warn({ graceMs }, 'in-flight requests did not finish in time; closing their connections');
        server.closeAllConnections();
        await closed;
      }
      await app.batches.stop();
      if (runRelay) {
        await Promise.all([app.relay.stop(), app.inboxRetention.stop(), app.syncHistoryRetention.stop(), app.changeLogRetention.stop(), app.subscriptionHealth.stop()]);
      }
      if (runSettings) await app.settingsSync.stop();
      options.logger?.info('api stopped');
    })());

  const displayHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { server, port, url: `http://${displayHost}:${port}`, stop };
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (a request line or headers over 16 KB, bytes
 * that are not HTTP, a client too slow to send its headers) get the API's JSON error body too, not Node's
 * bare status line.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'header_too_large', 'the request line and headers exceed 16 KB']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request_timeout', 'the request was not received in time']
        : [400, 'Bad Request', 'bad_request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
