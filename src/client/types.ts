import type { z } from 'zod';
import type {
  acceptedSchema,
  activityPageSchema,
  activitySchema,
  athleteStatusSchema,
  syncDoneSchema,
  syncPendingSchema,
  syncResultSchema,
} from '../api/athletes/schemas.js';
import type { ClientAbility, clientTokenSchema } from '../api/auth/client-token-schemas.js';
import type { changeSchema, changesPageSchema } from '../api/changes/schemas.js';
import type { errorBodySchema } from '../api/http/errors.js';
import type { resyncAcceptedSchema } from '../api/athletes/resync-schemas.js';

/**
 * The client's types, derived from the very zod schemas the API parses and answers with (and generates
 * /openapi.json from): a change to a route's schema changes these types, so the client cannot drift. Type-only
 * imports: nothing of the server ends up in an app's bundle.
 */

export type AthleteStatus = z.output<typeof athleteStatusSchema>;
export type Activity = z.output<typeof activitySchema>;
export type ActivityPage = z.output<typeof activityPageSchema>;
export type Accepted = z.output<typeof acceptedSchema>;
export type SyncResult = z.output<typeof syncResultSchema>;
export type SyncDone = z.output<typeof syncDoneSchema>;
export type SyncPending = z.output<typeof syncPendingSchema>;
export type Change = z.output<typeof changeSchema>;
export type ChangesPage = z.output<typeof changesPageSchema>;
export type ClientToken = z.output<typeof clientTokenSchema>;
export type ErrorBody = z.output<typeof errorBodySchema>;
export type ResyncAccepted = z.output<typeof resyncAcceptedSchema>;
export type { ClientAbility };

/** Query of GET /athletes/:id/activities as a caller writes it (instants as Date or ISO text). */
export interface ActivityQuery {
  limit?: number;
  after?: Date | string;
  before?: Date | string;
  include?: 'raw';
}
