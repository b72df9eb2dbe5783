import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuPercent, cpuSeconds } from '../../bench/lib/process-cpu.js';

/** Spends `ms` of this process's own CPU time (not wall time: on a busy machine the two differ). */
function burnCpu(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe('bench/lib/process-cpu (the CPU columns of the webhook benchmark)', () => {
  it('counts the CPU time a process spends, by pid', async () => {
    const before = await cpuSeconds({ self: { pids: () => [process.pid] } });
    burnCpu(300);
    const after = await cpuSeconds({ self: { pids: () => [process.pid] } });
    // /proc counts in clock ticks (10 ms), and other threads of this process add a little.
    expect(after.self! - before.self!).toBeGreaterThanOrEqual(0.28);
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
