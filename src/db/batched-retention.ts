import type { Logger } from 'pino';

/**
 * The shape every retention job shares (webhook inbox, sync history, change log): prune now, then every interval,
 * never two prunes at once, a failure logged and tried again at the next turn, and stop() waiting for a prune in
 * flight. The job itself says what one prune deletes.
 */
export interface PeriodicPrune<R> {
  /** Prunes now, then every intervalMs. */
  start(): void;
  pruneOnce(): Promise<R>;
  /** Stops the timer and waits for a prune in flight. */
  stop(): Promise<void>;
}

export function periodicPrune<R>(options: {
  intervalMs: number;
  prune: () => Promise<R>;
  /** Names the job in the failure log line. */
  what: string;
  logger?: Pick<Logger, 'warn'>;
}): PeriodicPrune<R> {
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> | undefined;

  function tick(): void {
    inFlight = options
      .prune()
      .catch((error: unknown) =>
        options.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, `${options.what}: prune failed; trying again later`),
      )
      .finally(() => {
        inFlight = undefined;
      });
  }

  return {
    start() {
      if (timer) return;
      tick();
      timer = setInterval(() => {
        if (!inFlight) tick();
      }, options.intervalMs);
      timer.unref();
    },
    pruneOnce: options.prune,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await inFlight;
    },
  };
}

/**
 * Runs one batched delete until a batch comes back short: `batch` deletes at most `limit` rows and says how many
 * went. Between batches the event loop lets other writers' statements through, so a large backlog never holds many
 * row locks or one long transaction.
 */
export async function deleteInBatches(limit: number, batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await batch();
    total += deleted;
    if (deleted < limit) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
