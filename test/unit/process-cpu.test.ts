import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuPercent, cpuSeconds } from '../../bench/lib/process-cpu.js';

function burn(ms: number): void {
  const until = Date.now() + ms;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
}

describe('bench/lib/process-cpu (the CPU columns of the webhook benchmark)', () => {
  it('counts the CPU time a process spends, by pid', async () => {
    const before = await cpuSeconds({ self: { pids: () => [process.pid] } });
    burn(300);
    const after = await cpuSeconds({ self: { pids: () => [process.pid] } });
    expect(after.self! - before.self!).toBeGreaterThanOrEqual(0.2);
    expect(after.self! - before.self!).toBeLessThan(5);
  });

  it('sums every process with a command name, and counts nothing for pids that are gone or missing', async () => {
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const ownCommand = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const sample = await cpuSeconds({
      node: { command: ownCommand },
      missing: { pids: () => [undefined, 2 ** 22 + 12345] },
    });
    const own = await cpuSeconds({ self: { pids: () => [process.pid] } });
    expect(sample.node).toBeGreaterThanOrEqual(own.self! - 0.05);
    expect(sample.missing).toBe(0);
  });

  it('turns two readings into percent of one core', () => {
    expect(cpuPercent({ a: 1, b: 0 }, { a: 2, b: 0.5 }, 2)).toEqual({ a: 50, b: 25 });
  });
});
