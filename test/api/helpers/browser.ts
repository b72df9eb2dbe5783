/**
 * Plays a browser's cookie handling for the OAuth flow: keeps what a response sets (by name and path, dropping
 * expired ones) and sends back, on the next request to the same origin, the cookies whose path covers it.
 * Redirects are never followed (each step of the flow is asserted by the test).
 */
export interface TestBrowser {
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
  /** The cookies this browser holds for an origin: name -> { value, path }. */
  cookies(origin: string): Map<string, { value: string; path: string }>;
}

export function testBrowser(): TestBrowser {
  const jar = new Map<string, Map<string, { value: string; path: string }>>();
  const forOrigin = (origin: string) => jar.get(origin) ?? jar.set(origin, new Map()).get(origin)!;

  function store(url: URL, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = decodeURIComponent(pair!.slice(eq + 1));
      const attr = new Map(attributes.map((a) => [a.split('=')[0]!.toLowerCase(), a.slice(a.indexOf('=') + 1)]));
      const path = attr.get('path') ?? '/';
      const expires = attr.has('expires') ? Date.parse(attr.get('expires')!) : undefined;
      const expired = attr.get('max-age') === '0' || (expires !== undefined && expires <= Date.now());
      const cookies = forOrigin(url.origin);
      if (expired) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
  }

  return {
    async fetch(target, init = {}) {
      const url = new URL(target);
      const headers = new Headers(init.headers);
      const sent = [...forOrigin(url.origin)]
        .filter(([, cookie]) => url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`))
        .map(([name, cookie]) => `${name}=${encodeURIComponent(cookie.value)}`);
      if (sent.length) headers.set('cookie', sent.join('; '));
      const response = await fetch(url, { redirect: 'manual', ...init, headers });
      store(url, response);
      return response;
    },
    cookies: (origin) => new Map(forOrigin(origin)),
  };
}
