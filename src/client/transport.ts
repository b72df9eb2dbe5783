import type { ErrorBody } from './types.js';

/** How the client reaches the API: base URL, credentials, the fetch to use, and the API's error body as an Error. */

export interface ClientOptions {
  /** Where the API is, e.g. https://sync.example.com. */
  baseUrl: string;
  /**
   * A client token (POST /athletes/:id/client-tokens, minted by the app's backend) or, on the backend, the admin
   * key. A function is asked before every request, so an app can hand in a fresh token when the old one expires.
   */
  token: string | (() => string | Promise<string>);
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** A non-2xx answer: the API's `{ error: { code, message } }` with its status. */
export class StravaSyncError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StravaSyncError';
  }

  static async from(response: Response): Promise<StravaSyncError> {
    let body: Partial<ErrorBody> = {};
    try {
      body = (await response.json()) as Partial<ErrorBody>;
    } catch {
      // not the API's JSON (a proxy's page): the status says enough
    }
    return new StravaSyncError(response.status, body.error?.code ?? 'http_error', body.error?.message ?? `HTTP ${response.status}`);
  }
}

export interface Transport {
  /** The response as it is (the caller reads the body). */
  raw(method: string, path: string, init?: { headers?: Record<string, string>; body?: unknown; signal?: AbortSignal }): Promise<Response>;
  /** The JSON body of a 2xx answer, with its status; a StravaSyncError otherwise. */
  json<T>(method: string, path: string, init?: { body?: unknown; signal?: AbortSignal }): Promise<{ status: number; body: T }>;
}

export function createTransport(options: ClientOptions): Transport {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const token = async () => (typeof options.token === 'function' ? options.token() : options.token);

  const raw: Transport['raw'] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await token()}`, ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return doFetch(`${base}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  };

  return {
    raw,
    async json<T>(method: string, path: string, init: { body?: unknown; signal?: AbortSignal } = {}) {
      const response = await raw(method, path, { headers: { accept: 'application/json' }, ...init });
      if (!response.ok) throw await StravaSyncError.from(response);
      return { status: response.status, body: (await response.json()) as T };
    },
  };
}
