import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isStaleSocketWrite } from '../../src/db/driver-crash-guard.js';

const script = (throwWhat: string) => `
  import { installDriverCrashGuard } from './src/db/driver-crash-guard.ts';
  installDriverCrashGuard((m) => console.log('guard:', m));
  setImmediate(() => { ${throwWhat} });
  setTimeout(() => console.log('still alive'), 100);
`;

function runChild(code: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
}

describe('postgres.js stale-write crash guard', () => {
  it('recognises only the driver bug signature', () => {
    const driverBug = new TypeError("Cannot read properties of null (reading 'write')");
    driverBug.stack = `${driverBug.message}\n    at Immediate.nextWrite (/app/node_modules/postgres/src/connection.js:255:22)`;
    expect(isStaleSocketWrite(driverBug)).toBe(true);
    const ours = new TypeError("Cannot read properties of null (reading 'write')");
    ours.stack = `${ours.message}\n    at handler (/app/src/api/app.ts:10:3)`;
    expect(isStaleSocketWrite(ours)).toBe(false);
    expect(isStaleSocketWrite(new Error('boom'))).toBe(false);
  });

  it('keeps the process alive through the driver bug', () => {
    const child = runChild(script(`
      const error = new TypeError("Cannot read properties of null (reading 'write')");
      error.stack = error.message + '\\n    at Immediate.nextWrite (/x/node_modules/postgres/src/connection.js:255:22)';
      throw error;`));
    expect(child.stdout).toContain('guard: postgres: dropped a write');
    expect(child.stdout).toContain('still alive');
    expect(child.status).toBe(0);
  });

  it('still ends the process with code 1 on any other uncaught exception', () => {
    const child = runChild(script(`throw new Error('a real bug');`));
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('a real bug');
    expect(child.stdout).not.toContain('still alive');
  });
});
