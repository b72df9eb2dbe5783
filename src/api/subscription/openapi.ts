import type { OpenApiContribution } from '../openapi/document.js';
import { SUBSCRIPTION_PATH } from './router.js';
import {
  createSubscriptionQuerySchema,
  createSubscriptionResultSchema,
  deleteSubscriptionResultSchema,
  subscriptionViewSchema,
} from './schemas.js';

/** Documents /admin/subscription from the schemas the routes answer with. */
export const subscriptionOpenApi: OpenApiContribution = (registry, { errorResponse, adminSecurity }) => {
  const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
  const common = { 401: errorResponse('Missing or wrong admin key'), 502: errorResponse('Strava refused or failed the call') };
  registry.registerPath({
    method: 'get',
    path: SUBSCRIPTION_PATH,
    summary: "The application's Strava push subscription",
    security: adminSecurity as never,
    responses: { 200: json(subscriptionViewSchema, 'What Strava has and what is recorded locally'), ...common },
  });
  registry.registerPath({
    method: 'post',
    path: SUBSCRIPTION_PATH,
    summary: 'Create the subscription for PUBLIC_URL + the webhook path (Strava verifies it with the GET handshake)',
    security: adminSecurity as never,
    request: { query: createSubscriptionQuerySchema },
    responses: {
      200: json(createSubscriptionResultSchema, 'A subscription with this callback already existed; now recorded'),
      201: json(createSubscriptionResultSchema, 'Created (and, with replace=true, the old one deleted)'),
      400: errorResponse('replace is not true/false'),
      409: errorResponse('A subscription with another callback exists: retry with ?replace=true'),
      ...common,
      502: errorResponse('Strava refused the subscription (handshake failed) or failed the call'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: SUBSCRIPTION_PATH,
    summary: 'Delete the subscription',
    security: adminSecurity as never,
    responses: {
      200: json(deleteSubscriptionResultSchema, 'Deleted'),
      404: errorResponse('There is no subscription'),
      ...common,
    },
  });
};
