/**
 * Child process of bench/api/webhooks.ts: serves the real API (createApp: webhook router, inbox, relay,
 * PostgreSQL, Temporal), a bare Express JSON endpoint, or bare Express plus one INSERT per event into a table
 * shaped like the inbox (the baseline for CPU per event), on a loopback port it prints as JSON.
 * A separate process so the load generator does not share an event loop with the server it measures.
 */
import express from 'express';
import { createApp } from '../../src/api/app.js';
import { createLogger } from '../../src/api/http/logger.js';
import { startServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { createSql } from '../../src/db/connection.js';
import { createStravaServices } from '../../src/strava/services.js';
import { createTemporalClient } from '../../src/temporal/client.js';

const mode = process.argv[2];

if (mode === 'bare') {
  const app = express();
  app.post('/webhooks/strava', express.json({ limit: '16kb' }), (req, res) => {
    res.json({ status: 'recorded', echo: typeof req.body });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  });
} else if (mode === 'insert') {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, applicationName: 'bench-insert' });
  const app = express();
  app.post('/webhooks/strava', express.json({ limit: '16kb' }), async (req, res) => {
    const event = req.body as Record<string, number | string | object>;
    try {
      await sql`
        insert into bench_baseline_events (object_type, object_id, aspect_type, owner_id, subscription_id, event_time, updates)
        values (${String(event.object_type)}, ${Number(event.object_id)}, ${String(event.aspect_type)}, ${Number(event.owner_id)},
                ${Number(event.subscription_id)}, ${Number(event.event_time)}, ${sql.json((event.updates ?? {}) as Record<string, string>)})`;
      res.json({ status: 'recorded' });
    } catch {
      res.status(500).json({ status: 'failed' });
    }
  });
  const server = app.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  });
  process.on('SIGTERM', () => server.close(() => void sql.end({ timeout: 1 }).then(() => process.exit(0))));
} else if (mode === 'api') {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const sql = createSql(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, applicationName: 'bench-api' });
  const temporal = createTemporalClient(config).client;
  const app = createApp({
    config,
    sql,
    temporal,
    strava: createStravaServices(config, sql),
    logger: createLogger({ level: 'silent' }),
    // The bench measures the receiver, not the flood guard (default 5,000 per 10 s per address).
    options: { rateLimits: { webhooks: { windowMs: 10_000, limit: 10_000_000 } } },
    // Relay tuning experiments: BENCH_RELAY_OPTIONS='{"concurrency":4}'.
    ...(process.env.BENCH_RELAY_OPTIONS ? { webhookRelay: JSON.parse(process.env.BENCH_RELAY_OPTIONS) } : {}),
    // Group commit settings: BENCH_GROUP_COMMIT='false' (one statement per event) or '{"maxInFlight":1}'.
    ...(process.env.BENCH_GROUP_COMMIT ? { webhookGroupCommit: JSON.parse(process.env.BENCH_GROUP_COMMIT) } : {}),
  });
  const running = await startServer(app, { port: 0, host: '127.0.0.1', relay: process.env.BENCH_RELAY !== 'off' });
  console.log(JSON.stringify({ port: running.port }));
  process.on('SIGTERM', () => {
    void running.stop(2_000).then(() => process.exit(0));
  });
} else {
  console.error('usage: webhook-server.ts bare|insert|api');
  process.exit(2);
}
