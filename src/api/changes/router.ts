import { Router } from 'express';
import type { Sql } from '../../db/connection.js';
import { changeLogBounds, changesAfter } from '../../db/repositories/change-log.js';
import type { ChangeStreams } from '../athletes/change-stream.js';
import { parseInput } from '../http/errors.js';
import { changesQuerySchema, type Change, type ChangesPage } from './schemas.js';

/**
 * `GET /changes?after=<id>&wait=<s>` (admin key): every athlete's changes from the change log, oldest first, for
 * an app's own backend to keep its caches in step. A long poll when `wait` is given; the cursor (`next`) survives
 * API restarts because the ids are the log's.
 */
export function changesRouter(deps: { sql: Sql; streams: ChangeStreams }): Router {
  const { sql, streams } = deps;
  const router = Router();
  router.get('/', async (req, res) => {
    const query = parseInput(changesQuerySchema, req.query, 'query');
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    const deadline = Date.now() + query.wait * 1000;
    await streams.ready();
    for (;;) {
      // Registered before the read: a change committed in between still ends the wait.
      const next = streams.nextChange(Math.max(0, deadline - Date.now()), gone.signal);
      const { head, prunedThrough } = await changeLogBounds(sql);
      if (query.after < prunedThrough || query.after > head) {
        next.cancel();
        res.json({ changes: [], next: head, reset: true } satisfies ChangesPage);
        return;
      }
      const changes = (await changesAfter(sql, query.after, query.limit)) as Change[];
      if (changes.length > 0 || Date.now() >= deadline || gone.signal.aborted || streams.closing) {
        next.cancel();
        res.json({ changes, next: changes.at(-1)?.id ?? query.after, reset: false } satisfies ChangesPage);
        return;
      }
      await next.done;
    }
  });
  return router;
}
