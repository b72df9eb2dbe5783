import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { parseArray, serializeArray } from '../../src/db/array-types.js';
import { bigintArray, createSql, textArray } from '../../src/db/connection.js';

/**
 * Static array types instead of postgres.js fetching them on every new connection (src/db/array-types.ts). The
 * chaos test found an API process ended by an unhandled rejection of that fetch when PostgreSQL became
 * unreachable while a fresh connection started (porsager/postgres#1192).
 */

describe('array literals', () => {
  it('round-trips odd elements through the serializer and parser', () => {
    const values = ['read', 'activity:read_all', 'a,b', 'c "quoted"', 'back\\slash', '{braces}', '', 'NULL', ' spaced '];
    expect(parseArray(serializeArray(values))).toEqual(values);
    expect(serializeArray([])).toBe('{}');
    expect(parseArray('{}')).toEqual([]);
    expect(parseArray('{a,NULL,"NULL"}')).toEqual(['a', null, 'NULL']);
  });

  it('carries text[] and bigint[] in the very first query of a new pool, and reads them back', async () => {
    const sql = createSql(inject('databaseServerUrl'), { max: 1 });
    try {
      const scopes = ['read', 'activity:read_all', 'a,b "c"'];
      const ids = [12_000_000_001, 2 ** 40];
      const [row] = await sql<{ scopes: string[]; ids: number[] }[]>`select ${textArray(sql, scopes)}::text[] as scopes, ${bigintArray(sql, ids)}::bigint[] as ids`;
      expect(row).toEqual({ scopes, ids });
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});

// A child process: a proxy that cuts every connection at the first statement it carries (and stops listening, so
// the reconnect is refused), then a query through it. The process must stay alive and the query must fail.
const cutAtFirstStatement = `
  import { createServer, Socket } from 'node:net';
  import { createSql } from './src/db/connection.ts';
  const target = new URL(process.env.TARGET_URL);
  let sentTypeFetch = false;
  const server = createServer((client) => {
    const upstream = new Socket();
    let startup = true;
    client.on('data', (chunk) => {
      // The startup packet has no type byte; after authentication the first 'Q' or 'P' message is a statement.
      if (!startup && (chunk[0] === 0x51 || chunk[0] === 0x50)) {
        if (chunk.includes('pg_type')) sentTypeFetch = true;
        client.destroy();
        upstream.destroy();
        server.close();
        return;
      }
      startup = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.connect(Number(target.port || 5432), target.hostname);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.host = '127.0.0.1:' + server.address().port;
  const sql = createSql(url.toString(), { max: 1 });
  const outcome = await sql\`select 1 as answer\`.then(() => 'answered', (error) => 'rejected ' + (error.code ?? error.message));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  console.log(JSON.stringify({ outcome, sentTypeFetch, alive: true }));
  process.exit(0);
`;

describe('a connection cut while it starts', () => {
  it('fails the query that was waiting, sends no type fetch, and leaves the process running', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', cutAtFirstStatement], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, TARGET_URL: inject('databaseServerUrl') },
    });
    expect(child.stderr).not.toContain('Unhandled rejection');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!) as { outcome: string; sentTypeFetch: boolean; alive: boolean };
    expect(result.outcome).toMatch(/^rejected /);
    expect(result.sentTypeFetch).toBe(false);
    expect(result.alive).toBe(true);
  });
});
