import { z } from 'zod';

/** How a range re-sync shows in the athlete status (workflow.live): the `status` query's resync fields. */

const window = {
  id: z.string(),
  after: z.number().int().meta({ description: 'Window start, epoch seconds (exclusive)' }),
  before: z.number().int().meta({ description: 'Window end, epoch seconds (exclusive)' }),
  pages: z.number().int(),
  listed: z.number().int(),
  added: z.number().int(),
  updated: z.number().int(),
  requestedAt: z.string(),
  startedAt: z.string().nullable(),
};

export const resyncProgressSchema = z
  .object({ ...window, listedUpTo: z.string().meta({ description: 'The window is listed up to here (ISO 8601)' }) })
  .meta({ id: 'ResyncProgress' });

export const resyncOutcomeSchema = z
  .object({ ...window, deleted: z.number().int(), finishedAt: z.string() })
  .meta({ id: 'ResyncOutcome' });
