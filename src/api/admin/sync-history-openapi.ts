import type { OpenApiContribution } from '../openapi/document.js';
import { adminHealthSchema, syncRunPageSchema, syncRunsQuerySchema } from './sync-history-schemas.js';

/** Documents GET /admin/health and GET /admin/sync-runs from the schemas the routes parse and answer with. */
export const syncHistoryOpenApi: OpenApiContribution = (registry, { errorResponse, adminSecurity }) => {
  const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
  registry.registerPath({
    method: 'get',
    path: '/admin/health',
    summary: 'The four health numbers for the last hour and day, and the event -> row latency histogram (docs/operations.md)',
    security: adminSecurity as never,
    responses: { 200: json(adminHealthSchema, 'Health numbers'), 401: errorResponse('Missing or wrong admin key') },
  });
  registry.registerPath({
    method: 'get',
    path: '/admin/sync-runs',
    summary: 'The sync history: every attempt of a sync activity, newest first, filtered and cursor paged',
    security: adminSecurity as never,
    request: { query: syncRunsQuerySchema },
    responses: {
      200: json(syncRunPageSchema, 'One page'),
      400: errorResponse('Unknown filter, malformed value or cursor, since not before until'),
      401: errorResponse('Missing or wrong admin key'),
    },
  });
};
