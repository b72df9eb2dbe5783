/**
 * postgres.js 3.4.9 can throw from a setImmediate callback when a connection closes while a small write is
 * still buffered (`TypeError: Cannot read properties of null (reading 'write')` in connection.js nextWrite;
 * upstream porsager/postgres#1154 and #1208, fixes proposed in #1168/#1209 but unreleased). Nothing can catch
 * it, so without this guard a PostgreSQL restart or network cut takes the whole API or worker down, which is
 * exactly when the webhook path must keep answering. By the time it fires, postgres.js has already rejected
 * the affected queries with CONNECTION_CLOSED, so dropping the stale write is safe.
 *
 * Only that exact failure is absorbed; any other uncaught exception still ends the process with code 1.
 */
let installed = false;

/** Accepts a live error or a serialized one (test runners pass plain objects). */
export function isStaleSocketWrite(error: unknown): boolean {
  const { name, message, stack = '' } = (error ?? {}) as { name?: unknown; message?: unknown; stack?: string };
  if (name !== 'TypeError' || typeof message !== 'string' || !message.includes("reading 'write'")) return false;
  return /postgres[\\/]src[\\/]connection\.js/.test(stack) && stack.includes('nextWrite');
}

export function installDriverCrashGuard(log: (message: string) => void = (m) => console.warn(m)): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (error, origin) => {
    if (isStaleSocketWrite(error)) {
      log('postgres: dropped a write to a connection that had already closed (driver bug porsager/postgres#1154)');
      return;
    }
    // Someone else (a test runner) handles uncaught exceptions: leave the decision to them.
    if (process.listenerCount('uncaughtException') > 1) return;
    // Otherwise behave as Node does without a handler.
    console.error(origin === 'unhandledRejection' ? 'Unhandled rejection:' : 'Uncaught exception:', error);
    process.exit(1);
  });
}
