/** Everything the emulator's route handlers share; one per running emulator. */
import type { EmulatorClock } from './clock.js';
import type { Counters } from './counters.js';
import type { FaultSettings } from './faults.js';
import type { ResolvedEmulatorOptions } from './options.js';
import type { Random } from './prng.js';
import type { RateLimiter } from './rate-limits.js';
import type { EmulatorStore } from './store.js';
import type { Storm } from './storm.js';
import type { TokenStore } from './tokens.js';
import type { WebhookDispatcher } from './webhooks.js';

export interface EmulatorContext {
  options: ResolvedEmulatorOptions;
  clock: EmulatorClock;
  tokens: TokenStore;
  store: EmulatorStore;
  webhooks: WebhookDispatcher;
  rateLimiter: RateLimiter;
  faults: FaultSettings;
  /** Seeded: fault decisions on API calls. */
  faultRandom: Random;
  /** Webhook drop/duplicate/reorder decisions: its own stream, restarted by a reset like the others. */
  webhookRandom: Random;
  counters: Counters;
  baseUrl: string;
  /** The storm started through the control API, if any (one at a time). */
  storm?: Storm | undefined;
}
