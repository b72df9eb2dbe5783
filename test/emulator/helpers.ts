/** Shared helpers for the emulator conformance tests: a real HTTP webhook receiver and small fetch wrappers. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';

export interface ReceivedEvent {
  body: Record<string, unknown>;
  raw: string;
  atMs: number;
}

export interface CallbackServer {
  url: string;
  events: ReceivedEvent[];
  handshakes: URLSearchParams[];
  /** Decides the answer to each POST (default 200). */
  respond: (event: ReceivedEvent, index: number) => number | Promise<number>;
  /** Decides the handshake answer (default: echo the challenge). */
  handshake: (query: URLSearchParams, res: ServerResponse) => void | Promise<void>;
  close(): Promise<void>;
}

export const echoChallenge = (query: URLSearchParams, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ 'hub.challenge': query.get('hub.challenge') }));
};

export async function startCallbackServer(): Promise<CallbackServer> {
  const state: CallbackServer = {
    url: '',
    events: [],
    handshakes: [],
    respond: () => 200,
    handshake: echoChallenge,
    close: async () => {},
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://callback');
      if (req.method === 'GET') {
        state.handshakes.push(url.searchParams);
        await state.handshake(url.searchParams, res);
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const event: ReceivedEvent = { body: JSON.parse(raw) as Record<string, unknown>, raw, atMs: Date.now() };
      state.events.push(event);
      const status = await state.respond(event, state.events.length - 1);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return state;
}

export async function withEmulator<T>(options: EmulatorOptions, fn: (emulator: RunningEmulator) => Promise<T>): Promise<T> {
  const emulator = await startEmulator(options);
  try {
    return await fn(emulator);
  } finally {
    await emulator.close();
  }
}

export async function apiGet(emulator: RunningEmulator, path: string, token?: string): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const response = await fetch(`${emulator.apiUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export async function tokenCall(emulator: RunningEmulator, fields: Record<string, string>): Promise<{ status: number; text: string; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${emulator.oauthUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: emulator.clientId, client_secret: emulator.clientSecret, ...fields }),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown>, headers: response.headers };
}

export async function subscribe(emulator: RunningEmulator, callbackUrl: string, verifyToken = 'verify-me'): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const response = await fetch(`${emulator.apiUrl}/push_subscriptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: emulator.clientId, client_secret: emulator.clientSecret, callback_url: callbackUrl, verify_token: verifyToken }),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) as Record<string, unknown> };
}

export { waitFor } from '../helpers/wait-for.js';

export { DAY_MS } from '../../src/domain/durations.js';
export { FIFTEEN_MINUTES_MS as FIFTEEN_MIN_MS } from '../../src/strava/rate-headers.js';
