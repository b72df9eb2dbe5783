/**
 * Connects an emulator athlete through the API's real OAuth flow, the way a browser does it: GET /auth/strava,
 * follow the redirect to the emulator's consent page (which approves at once for the athlete named by
 * athlete_id), follow its redirect back to the API's callback. Cookies set along the way are sent back to the
 * origin that set them, so an OAuth state bound to a browser cookie works as it does for a person.
 */
import { z } from 'zod';

const connectedSchema = z.object({ athleteId: z.number().int(), status: z.literal('connected') });
const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Cookies per origin: name=value pairs only (attributes do not matter for one scripted flow over plain HTTP). */
class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const cookies = this.byOrigin.get(url.origin) ?? new Map<string, string>();
      cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
      this.byOrigin.set(url.origin, cookies);
    }
  }

  header(url: URL): Record<string, string> {
    const cookies = this.byOrigin.get(url.origin);
    return cookies?.size ? { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {};
  }
}

/**
 * Runs the connect flow for athleteId and returns once the API answered that the athlete is connected.
 * `clientAddress`: sent to the API as X-Forwarded-For (trusted from loopback), so a benchmark connecting many
 * athletes at once looks like many browsers to the API's per-address OAuth rate limit.
 */
export async function connectThroughOAuth(apiUrl: string, athleteId: number, options: { clientAddress?: string } = {}): Promise<void> {
  const jar = new CookieJar();
  const apiOrigin = new URL(apiUrl).origin;
  let url = new URL('/auth/strava', apiUrl);
  for (let hop = 0; hop < 6; hop++) {
    const forwarded: Record<string, string> = options.clientAddress && url.origin === apiOrigin ? { 'x-forwarded-for': options.clientAddress } : {};
    const response = await fetch(url, { redirect: 'manual', headers: { ...jar.header(url), ...forwarded }, signal: AbortSignal.timeout(30_000) });
    jar.store(url, response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.arrayBuffer();
      url = new URL(location, url);
      // The consent page "logs in" whichever athlete the emulator is told to; a browser user would type theirs.
      if (url.pathname.endsWith('/oauth/authorize')) url.searchParams.set('athlete_id', String(athleteId));
      continue;
    }
    const body: unknown = await response.json().catch(() => undefined);
    const connected = connectedSchema.safeParse(body);
    if (response.ok && connected.success && connected.data.athleteId === athleteId) return;
    const failure = errorSchema.safeParse(body);
    const reason = failure.success ? `${failure.data.error.code}: ${failure.data.error.message}` : `HTTP ${response.status}`;
    throw new Error(`connecting athlete ${athleteId} through ${url.origin}${url.pathname} failed (${reason})`);
  }
  throw new Error(`connecting athlete ${athleteId}: too many redirects`);
}
