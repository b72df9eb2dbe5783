/**
 * Where the connect flow may send the browser back to: the API's own origin (PUBLIC_URL) or one of
 * ALLOWED_RETURN_ORIGINS. A relative path ("/done") resolves against PUBLIC_URL. Anything else is an open
 * redirect and is refused.
 */
export function resolveReturnTo(returnTo: string, publicUrl: string, allowedOrigins: string[]): string | undefined {
  if (returnTo.startsWith('//') || returnTo.startsWith('/\\')) return undefined;
  let url: URL;
  try {
    url = new URL(returnTo, publicUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  const allowed = new Set([new URL(publicUrl).origin, ...allowedOrigins.map(originOf).filter((o): o is string => !!o)]);
  return allowed.has(url.origin) ? url.toString() : undefined;
}

function originOf(text: string): string | undefined {
  try {
    return new URL(text).origin;
  } catch {
    return undefined;
  }
}

/** Appends result parameters to the return URL (the client app reads them). */
export function withParams(returnTo: string, params: Record<string, string>): string {
  const url = new URL(returnTo);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}
