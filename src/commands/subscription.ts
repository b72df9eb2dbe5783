import { parseArgs } from 'node:util';
import { createSubscriptionService, SubscriptionError } from '../api/subscription/service.js';
import { loadConfigOrExit } from '../config.js';
import { createSql } from '../db/connection.js';
import { createStravaServices } from '../strava/services.js';

const USAGE = `usage: strava-sync subscription <create [--replace] | view | delete> [--json]

  create      register PUBLIC_URL + the webhook path with Strava (the API must be running and reachable
              there: Strava verifies the callback with a GET before answering); --replace deletes a
              subscription that points elsewhere first
  view        show the application's subscription at Strava and the one recorded locally
  delete      delete the application's subscription at Strava`;

/**
 * `strava-sync subscription create|view|delete`: the same operations as /admin/subscription, run directly
 * against Strava and the database with this process's configuration.
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { replace: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  const action = positionals[0];
  if (values.help || !action || !['create', 'view', 'delete'].includes(action) || positionals.length > 1) {
    console.log(USAGE);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const config = loadConfigOrExit();
  const sql = createSql(config.DATABASE_URL, { max: 1, applicationName: 'strava-sync-subscription' });
  const service = createSubscriptionService({ strava: createStravaServices(config, sql).client, sql, config });
  const print = (text: string, data: unknown) => console.log(values.json ? JSON.stringify(data, null, 2) : text);
  try {
    if (action === 'view') {
      const view = await service.view();
      print(view.message, view);
    } else if (action === 'create') {
      const result = await service.create({ replace: values.replace });
      const replaced = result.replacedSubscriptionId ? ` (replaced subscription ${result.replacedSubscriptionId})` : '';
      print(
        result.created
          ? `created subscription ${result.subscription.id} -> ${result.subscription.callbackUrl}${replaced}`
          : `subscription ${result.subscription.id} already delivers to ${result.subscription.callbackUrl}; recorded it`,
        result,
      );
    } else {
      const result = await service.delete();
      print(`deleted subscription ${result.deletedSubscriptionId}`, result);
    }
  } catch (error) {
    if (error instanceof SubscriptionError) throw new Error(error.message);
    throw error;
  } finally {
    await sql.end();
  }
}
