/**
 * The one polling helper of the tests. `waitFor` reads until a condition accepts the value; `eventually` until a
 * check returns something other than undefined. A read that throws is retried. On timeout both throw an error
 * that shows the last value read and the last error a read threw, so a failed wait says what the test saw
 * instead of only that time ran out.
 */

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Pause between reads (default 50 ms). */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

const NOTHING_READ = Symbol('nothing read');

/** Polls `read` until `done` accepts its value and returns that value. */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMsOrOptions: number | WaitOptions = {},
  intervalMs?: number,
): Promise<T> {
  const options = typeof timeoutMsOrOptions === 'number' ? { timeoutMs: timeoutMsOrOptions, intervalMs } : timeoutMsOrOptions;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let last: T | typeof NOTHING_READ = NOTHING_READ;
  let lastError: unknown = NOTHING_READ;
  for (;;) {
    try {
      const value = await read();
      if (done(value)) return value;
      last = value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = [
        last === NOTHING_READ ? 'no value read' : `last value: ${describe(last)}`,
        ...(lastError === NOTHING_READ ? [] : [`last error: ${lastError instanceof Error ? lastError.message : describe(lastError)}`]),
      ];
      throw new Error(`${options.what ?? 'condition'} not met within ${timeoutMs} ms; ${seen.join('; ')}`, {
        ...(lastError === NOTHING_READ ? {} : { cause: lastError }),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/** Polls `check` until it returns something other than undefined, and returns that. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  return (await waitFor(check, (value) => value !== undefined, { timeoutMs, intervalMs: 150, what })) as T;
}

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  } catch {
    return String(value);
  }
}
