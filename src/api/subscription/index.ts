export { createSubscriptionRouter, SUBSCRIPTION_PATH, type SubscriptionRouterDeps } from './router.js';
export { createSubscriptionService, SubscriptionError, type SubscriptionService, type PushSubscriptionApi } from './service.js';
export * from './schemas.js';
export { subscriptionOpenApi } from './openapi.js';
export { createSubscriptionHealth, LOOK_MAX_AGE_MS, type SubscriptionHealth } from './health.js';
export { registerSubscriptionMetrics } from './metrics.js';
