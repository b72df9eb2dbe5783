import { z } from 'zod';
import { CHANGE_KINDS } from '../../db/change-feed.js';

/** Zod schemas of the change feed: the athlete event stream's resume point and GET /changes (parsing and /openapi.json). */

const changeId = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a change id (a non-negative integer), as the stream or feed sent it')
  .transform(Number);

export const changeSchema = z
  .object({
    id: z.number().int().positive().meta({ description: 'Change id: increases in commit order across all athletes' }),
    athleteId: z.number().int(),
    kind: z.enum(CHANGE_KINDS),
    activityIds: z.array(z.number().int()).optional().meta({ description: 'Activities affected (at most 200 listed)' }),
    count: z.number().int().optional(),
    at: z.string().meta({ description: 'When the change was made (ISO 8601)' }),
  })
  .meta({ id: 'Change' });
export type Change = z.infer<typeof changeSchema>;

export const eventStreamQuerySchema = z.object({
  lastEventId: changeId.optional().meta({ description: 'Resume after this change id, for clients that cannot send the Last-Event-ID header' }),
  access_token: z.string().optional().meta({ description: 'A client token with the events ability (EventSource cannot set headers); never logged' }),
});

/** Longest long poll: well inside the server's request timeout (60 s) and common proxy idle timeouts. */
export const MAX_CHANGES_WAIT_SECONDS = 30;

export const changesQuerySchema = z.object({
  after: changeId.default(0).meta({ description: 'The `next` of the previous answer (0 or absent: from the start of the log)' }),
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_CHANGES_WAIT_SECONDS)
    .default(0)
    .meta({ description: `Long poll: seconds to wait for a change when there is none yet (0 to ${MAX_CHANGES_WAIT_SECONDS}, default 0)` }),
  limit: z.coerce.number().int().min(1).max(1000).default(500).meta({ description: 'Changes per answer, 1 to 1000 (default 500)' }),
});

export const changesPageSchema = z
  .object({
    changes: z.array(changeSchema).meta({ description: 'Oldest first; every change exactly once across successive calls' }),
    next: z.number().int().meta({ description: 'Pass as `after` on the next call' }),
    reset: z
      .boolean()
      .meta({ description: 'true: changes after `after` were pruned (older than CHANGE_LOG_RETENTION) or `after` is unknown: refetch everything, then continue from `next`' }),
  })
  .meta({ id: 'ChangesPage' });
export type ChangesPage = z.infer<typeof changesPageSchema>;
