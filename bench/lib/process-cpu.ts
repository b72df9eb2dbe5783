/**
 * CPU time per process group, read from /proc (Linux): which part of the stack a benchmark step spends the
 * machine's cores on. Times are utime + stime in seconds; a group is a set of pids or every process whose
 * command name matches.
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100; // USER_HZ is 100 on every Linux this runs on

export type ProcessGroup = { pids: () => (number | undefined)[] | Promise<(number | undefined)[]> } | { command: string };

async function cpuSecondsOf(pid: number): Promise<{ seconds: number; command: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the command name: state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND, command };
  } catch {
    return undefined; // the process exited between listing and reading
  }
}

async function allPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
}

export async function cpuSeconds(groups: Record<string, ProcessGroup>): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  const everyPid = Object.values(groups).some((group) => 'command' in group) ? await allPids() : [];
  for (const [name, group] of Object.entries(groups)) {
    let total = 0;
    if ('pids' in group) {
      for (const pid of await group.pids()) if (pid !== undefined) total += (await cpuSecondsOf(pid))?.seconds ?? 0;
    } else {
      for (const pid of everyPid) {
        const sample = await cpuSecondsOf(pid);
        if (sample?.command === group.command) total += sample.seconds;
      }
    }
    totals[name] = total;
  }
  return totals;
}

/** Share of one core each group used between two readings, in percent (200 % = both cores of two). */
export function cpuPercent(before: Record<string, number>, after: Record<string, number>, wallSeconds: number): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((name) => [name, (100 * (after[name]! - (before[name] ?? 0))) / wallSeconds]));
}
