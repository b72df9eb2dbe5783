/**
 * The `strava-sync` command. Each subcommand lives in src/commands/<name>.ts and is loaded only when used,
 * so `strava-sync emulator` does not pay for the Temporal worker and vice versa.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[]): Promise<void> }> }> = {
  dev: { summary: 'run the whole stack locally (Temporal dev server, emulator, worker, API)', load: () => import('./commands/dev.js') },
  api: { summary: 'run the HTTP API', load: () => import('./commands/api.js') },
  worker: { summary: 'run a Temporal worker', load: () => import('./commands/worker.js') },
  migrate: { summary: 'apply database migrations', load: () => import('./commands/migrate.js') },
  emulator: { summary: 'run the local Strava emulator', load: () => import('./commands/emulator.js') },
  subscription: { summary: 'create|view|delete the Strava webhook subscription', load: () => import('./commands/subscription.js') },
  'rotate-keys': { summary: 're-encrypt every stored token under TOKEN_ENCRYPTION_KEY', load: () => import('./commands/rotate-keys.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(14)} ${summary}`);
  return `usage: strava-sync <command> [options]\n\ncommands:\n${lines.join('\n')}`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`strava-sync: unknown command "${name}"\n\n${usage()}`);
    process.exit(2);
  }
  await (await command.load()).run(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`strava-sync: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
