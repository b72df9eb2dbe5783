import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';

/**
 * The process's one Temporal Client (the API, benchmarks). The connection is lazy so the API starts, and keeps
 * recording webhooks in the inbox, while Temporal is down; the relay forwards them once it is back. Everything
 * asked of athlete workflows goes through AthleteGateway (athlete-gateway.ts), built on this client.
 */
export function createTemporalClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): { client: Client; close: () => Promise<void> } {
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  return { client, close: () => connection.close() };
}
