/**
 * Shares one read among the gauges collected in the same /metrics scrape: prom-client calls each gauge's
 * collect() in turn, and they should not each query PostgreSQL. A failed read yields undefined, so those gauges
 * keep their last values instead of failing the scrape.
 */
export function perScrape<T>(read: () => Promise<T>): () => Promise<T | undefined> {
  let reading: Promise<T | undefined> | undefined;
  return () => {
    reading ??= read()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (reading = undefined), 0));
    return reading;
  };
}
