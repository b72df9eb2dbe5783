import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { temporalCliPath, temporalTestServerPath } from '../../src/dev/temporal-binaries.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['bin/strava-sync.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
}

describe('strava-sync CLI', () => {
  it('stops with exit code 1 and one line per bad setting, naming each', () => {
    const result = cli(['migrate'], { STRAVA_CLIENT_ID: 'abc', BACKFILL_INTERVAL: 'often', DATABASE_URL: 'mysql://x' });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((line) => line.replace(/^config error: /, '').split(':')[0]).sort()).toEqual([
      'BACKFILL_INTERVAL',
      'DATABASE_URL',
      'STRAVA_CLIENT_ID',
    ]);
  });

  it('names a missing production secret', () => {
    const result = cli(['migrate'], { NODE_ENV: 'production', TOKEN_ENCRYPTION_KEY: '', STRAVA_CLIENT_SECRET: '' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('TOKEN_ENCRYPTION_KEY: is required');
  });

  it('refuses a published development secret in production, naming the variable', () => {
    const result = cli(['migrate'], {
      NODE_ENV: 'production',
      STRAVA_CLIENT_ID: '42',
      STRAVA_CLIENT_SECRET: 'secret',
      STRAVA_WEBHOOK_VERIFY_TOKEN: 'verify',
      TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      ADMIN_API_KEY: 'dev-admin-key',
      OAUTH_STATE_SECRET: 'a-long-oauth-state-secret',
      CLIENT_TOKEN_KEYS: Buffer.alloc(32, 9).toString('base64'),
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('config error: ADMIN_API_KEY: is the published development value; set a secret of your own');
  });

  it('rejects an unknown command with usage', () => {
    const result = cli(['frobnicate']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown command "frobnicate"');
    expect(result.stderr).toContain('migrate');
  });
});

describe('Temporal binary resolver', () => {
  it('prefers TEMPORAL_CLI / TEMPORAL_TEST_SERVER, then PATH, then the project venv', () => {
    expect(temporalCliPath({ TEMPORAL_CLI: '/bin/sh' })).toBe('/bin/sh');
    expect(temporalTestServerPath({ TEMPORAL_TEST_SERVER: '/bin/sh' })).toBe('/bin/sh');
    expect(temporalCliPath({})).toMatch(/temporal$/);
    expect(temporalTestServerPath({})).toMatch(/temporal-test-server$/);
  });

  it('explains how to install when a configured binary does not exist', () => {
    expect(() => temporalCliPath({ TEMPORAL_CLI: '/nonexistent/temporal' })).toThrow(/TEMPORAL_CLI=.* is not an executable/);
  });

  it('the venv binaries run', () => {
    const version = spawnSync(temporalCliPath({}), ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toContain('temporal version 1.9.1');
  });
});
