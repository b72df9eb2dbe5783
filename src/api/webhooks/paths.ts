import type { Config } from '../../config.js';

export const WEBHOOK_BASE_PATH = '/webhooks/strava';

/**
 * Where Strava delivers events. With STRAVA_WEBHOOK_PATH_TOKEN set the path carries that secret segment:
 * Strava does not sign events, so an unguessable path is what keeps strangers from forging them.
 */
export function webhookCallbackPath(config: Pick<Config, 'STRAVA_WEBHOOK_PATH_TOKEN'>): string {
  return config.STRAVA_WEBHOOK_PATH_TOKEN ? `${WEBHOOK_BASE_PATH}/${config.STRAVA_WEBHOOK_PATH_TOKEN}` : WEBHOOK_BASE_PATH;
}

/** The callback URL registered with Strava: PUBLIC_URL joined with the callback path. */
export function webhookCallbackUrl(config: Pick<Config, 'STRAVA_WEBHOOK_PATH_TOKEN' | 'PUBLIC_URL'>): string {
  return new URL(webhookCallbackPath(config), config.PUBLIC_URL.endsWith('/') ? config.PUBLIC_URL : `${config.PUBLIC_URL}/`).toString();
}
