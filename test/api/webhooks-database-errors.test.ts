import { describe, expect, it } from 'vitest';
import { classifyDatabaseError } from '../../src/api/webhooks/database-errors.js';
import { TimeoutError } from '../../src/api/http/timeout.js';
import { createSql } from '../../src/db/connection.js';
import { freePort } from '../../src/dev/temporal-dev-server.js';
import { useTestDatabase } from '../helpers/database.js';

const db = useTestDatabase();

/** Only a positively recognised connection failure may send an event down the receiver's direct-signal path. */
describe('classifyDatabaseError', () => {
  it('a refused connection (real postgres.js error) is unreachable', async () => {
    const closed = createSql(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`, { max: 1 });
    const error = await closed`select 1`.catch((e: unknown) => e);
    await closed.end({ timeout: 1 });
    expect(classifyDatabaseError(error)).toBe('unreachable');
  });

  it("PostgreSQL refusing a value (real 22P05 from jsonb's \\u0000) is bad input", async () => {
    // What the inbox insert sends for an updates object holding a NUL.
    const error = await db.sql`select ${db.sql.json({ title: 'x\u0000' })}::jsonb`.catch((e: unknown) => e);
    expect((error as { code?: string }).code).toMatch(/^22/);
    expect(classifyDatabaseError(error)).toBe('bad_input');
  });

  it('a data exception is bad input; a raised exception or a missing table (real errors) is neither', async () => {
    const division = await db.sql`select 1 / 0`.catch((e: unknown) => e); // 22012: still the input's fault
    expect(classifyDatabaseError(division)).toBe('bad_input');
    const raised = await db.sql.unsafe(`do $$ begin raise exception 'x' using errcode = 'XX000'; end $$`).catch((e: unknown) => e);
    expect(classifyDatabaseError(raised)).toBe('other');
    const undefinedTable = await db.sql`select * from no_such_table`.catch((e: unknown) => e);
    expect(classifyDatabaseError(undefinedTable)).toBe('other');
  });

  it.each([
    ['the record timeout', new TimeoutError('no answer within 1000 ms'), 'unreachable'],
    ['CONNECTION_CLOSED', Object.assign(new Error('closed'), { code: 'CONNECTION_CLOSED' }), 'unreachable'],
    ['CONNECT_TIMEOUT', Object.assign(new Error('t'), { code: 'CONNECT_TIMEOUT' }), 'unreachable'],
    ['CONNECTION_DESTROYED', Object.assign(new Error('d'), { code: 'CONNECTION_DESTROYED' }), 'unreachable'],
    ['ENOTFOUND', Object.assign(new Error('n'), { code: 'ENOTFOUND' }), 'unreachable'],
    ['SQLSTATE 08006', Object.assign(new Error('c'), { code: '08006' }), 'unreachable'],
    ['SQLSTATE 57P01 (admin shutdown)', Object.assign(new Error('s'), { code: '57P01' }), 'unreachable'],
    ['SQLSTATE 57P03 (cannot connect now)', Object.assign(new Error('s'), { code: '57P03' }), 'unreachable'],
    ['SQLSTATE 57014 (statement cancelled)', Object.assign(new Error('q'), { code: '57014' }), 'other'],
    ['an AggregateError of refused sockets', new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), 'unreachable'],
    ['a plain Error', new Error('boom'), 'other'],
    ['a string', 'boom', 'other'],
    ['undefined', undefined, 'other'],
  ])('%s', (_name, error, expected) => {
    expect(classifyDatabaseError(error)).toBe(expected);
  });
});
