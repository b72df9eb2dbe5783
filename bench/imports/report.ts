/** RESULTS.md text for the import benchmark: the machine, and one section per case. */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import type { StepResult } from '../freshness/measure.js';
import { WINDOW_MS, fmtDuration } from './plan.js';
import type { LiveReport } from './live.js';
import type { ImportCaseReport } from './simulate.js';

/** `nproc`, `free -g` (the Mem: line), the CPU model, Node's version and the load average, as the brief asks. */
export function machineLine(): string {
  const run = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const mem = run('free', ['-g']).split('\n').find((l) => l.startsWith('Mem:'))?.replace(/\s+/g, ' ') ?? '?';
  const model = run('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]);
  return `nproc ${run('nproc', [])} (${model}), free -g \`${mem}\`, Node ${process.version}, load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`;
}

const pct = (a: number, b: number) => (b > 0 ? `${Math.round((100 * a) / b)} %` : '—');
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Requests against the floor, 429s, per-window use of the background share, and the last import against the ideal. */
export function caseLines(r: ImportCaseReport): string[] {
  const overFloor = r.imports.filter((i) => i.requests !== i.floor);
  const overService = r.imports.filter((i) => i.requests !== i.servicePages);
  const unfinished = r.imports.filter((i) => i.doneAfterMs === null);
  const backlogged = r.windows.filter((w) => w.backlog);
  const full = backlogged.filter((w) => w.background >= 0.9 * w.allowance);
  const sizes = r.imports.map((i) => i.activities);
  const windowsToShow = r.windows.length <= 14 ? r.windows : [...r.windows.slice(0, 6), null, ...r.windows.slice(-6)];
  const lowest = backlogged.reduce<(typeof backlogged)[number] | undefined>((a, w) => (!a || w.background / Math.max(1, w.allowance) < a.background / Math.max(1, a.allowance) ? w : a), undefined);
  return [
    `Budget: ${r.budget.windowLimit} reads / 15 min, ${r.budget.dayLimit.toLocaleString('en')} / day; background share ${r.budget.backgroundShare} ` +
      `(${Math.floor(r.budget.windowLimit * r.budget.backgroundShare)} per window, daily pace with a one-window head start). Start ${iso(r.startAt)} (governor clock).`,
    '',
    `- Imports: ${r.imports.length} athletes, ${Math.min(...sizes).toLocaleString('en')}-${Math.max(...sizes).toLocaleString('en')} activities (${sizes.reduce((a, b) => a + b, 0).toLocaleString('en')} in all); ` +
      `${r.imports.length - unfinished.length} completed${unfinished.length ? `, **${unfinished.length} not completed**` : ''}.`,
    `- List requests: ${r.totalPages} used (sync history), ${r.listRequestsServed} served by the emulator; floor (full pages + one short page) ${r.totalFloor}: ` +
      `**${r.imports.length - overFloor.length} of ${r.imports.length} imports exactly at their floor**` +
      (overFloor.length ? `; ${overFloor.length} used more (${overFloor.map((i) => `${i.activities}: ${i.requests} vs ${i.floor}`).slice(0, 8).join(', ')}${overFloor.length > 8 ? ', ...' : ''})` : '') +
      `. Against what the service's paging needs (one activity listed again per page): ${r.imports.length - overService.length} of ${r.imports.length} exact.`,
    `- Refused attempts (the governor, no request sent): ${r.imports.reduce((n, i) => n + i.refused, 0)}; failed attempts: ${r.imports.reduce((n, i) => n + i.failed, 0)}. **429s from the emulator: ${r.rateLimited429}.**`,
    `- Realtime during the imports: ${r.realtime.events} webhook creations, ${r.realtime.requests} realtime requests, ${r.realtime.refused} refused by the governor.`,
    `- Backlogged windows (imports still waiting at the window's end): ${backlogged.length}; **background used >= 90 % of what it was allowed in ${full.length} of ${backlogged.length}**` +
      (lowest ? ` (lowest ${pct(lowest.background, lowest.allowance)}: ${lowest.background} of ${lowest.allowance} in the window at ${iso(lowest.windowStart)})` : '') + '.',
    `- **Last import completed after ${r.lastImportMs === null ? 'not all completed' : fmtDuration(r.lastImportMs)}**; ideal by the budget: ${fmtDuration(r.boundMs)} ` +
      `(the first moment the windows' shares and the day's pace let the ${r.totalPages}th request go, requests taking no time)` +
      `${r.lastImportMs !== null && r.boundMs > 0 ? `, ratio ${(r.lastImportMs / r.boundMs).toFixed(2)}` : ''}; the issue's total pages / allowed rate: ${fmtDuration(r.simpleIdealMs)}` +
      `${r.lastImportMs !== null ? `, ratio ${(r.lastImportMs / r.simpleIdealMs).toFixed(2)}` : ''}.`,
    '',
    '| window (governor clock) | background requests | others (realtime) | background allowed | used | backlog at the end |',
    '|---|---|---|---|---|---|',
    ...windowsToShow.map((w) =>
      w === null
        ? `| ... ${r.windows.length - 12} more windows ... | | | | | |`
        : `| ${iso(w.windowStart)} | ${w.background} | ${w.other} | ${w.allowance} | ${pct(w.background, w.allowance)} | ${w.backlog ? 'yes' : 'no'} |`,
    ),
    '',
    `"Background allowed" is the least of the window share (${Math.floor(r.budget.windowLimit * r.budget.backgroundShare)}) and the day allowance left, each less the other priorities' requests in the window (src/strava/rate-governor.ts dayTerms / dayAllowance). Windows are ${WINDOW_MS / 60_000} minutes.`,
  ];
}

const ms = (n: number | undefined) => (n === undefined ? '—' : `${Math.round(n)}`);
const stepRow = (s: StepResult, base: StepResult) =>
  `| ${s.label} | ${s.athletes} | ${s.rate}/s for ${s.seconds} s | ${s.created} | ${s.seen} / ${s.missing} | ${ms(s.latency?.p50)} | ${ms(s.latency?.p99)} | ${ms(s.latency?.max)} | ` +
  `${s === base ? '1' : s.latency && base.latency ? `${(s.latency.p99 / base.latency.p99).toFixed(2)}x` : '—'} | ${Object.entries(s.cpu).map(([k, v]) => `${k.split(' ')[0]} ${v.toFixed(0)}`).join(' / ')} |`;

export function liveLines(r: LiveReport): string[] {
  const steps = [r.baseline, r.loadedWatchers, ...(r.loadedImporters ? [r.loadedImporters] : [])];
  const worst = Math.max(...steps.slice(1).map((s) => s.latency?.p99 ?? Infinity));
  const ratio = r.baseline.latency ? worst / r.baseline.latency.p99 : Infinity;
  return [
    `Connects: ${r.imports.length} athletes through OAuth all at once, in ${(r.connectMs / 1000).toFixed(1)} s; ` +
      (r.boundaryAfterMs === null ? 'no clock shift.' : `the window boundary ${(r.boundaryAfterMs / 1000).toFixed(0)} s after the connects began (API and worker clocks, and the emulator's, ${Math.round(r.clockShiftMs / 1000)} s ahead).`) + ` Import throughput while the budget allowed: ${r.pagesPerSecondUnbounded?.toFixed(1) ?? '—'} pages/s. Run took ${fmtDuration(r.wallMs)}.`,
    '',
    ...caseLines(r),
    '',
    `Realtime event-to-visible (webhook sent by the emulator -> change on the athlete's stream; bench/freshness's measurement), unloaded at the start of the run vs during the imports: ` +
      `**p99 ${ms(worst)} ms vs ${ms(r.baseline.latency?.p99)} ms unloaded: ${ratio.toFixed(2)}x (target <= 2x: ${ratio <= 2 ? 'met' : 'missed'})**.`,
    '',
    '| step | athletes | webhooks | created | seen / missing | p50 ms | p99 ms | max ms | p99 vs unloaded | CPU % api / worker / temporal / postgres / bench |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...steps.map((s) => stepRow(s, r.baseline)),
  ];
}
