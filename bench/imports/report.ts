/** RESULTS.md text for the import benchmark: the machine, and one section per case. */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import type { StepResult } from '../freshness/measure.js';
import { WINDOW_MS, allowedBackgroundRatePerMs, capReached, fmtDuration, type WindowUse } from './plan.js';
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

const ratio = (measured: number | null, ideal: number) => (measured !== null && ideal > 0 ? ` (measured ${(measured / ideal).toFixed(2)}x)` : '');
const pct = (a: number, b: number) => (b > 0 ? `${Math.round((100 * a) / b)} %` : '—');
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Requests against the floor, 429s, per-window use of the background share, and the last import against the ideal. */
export function caseLines(r: ImportCaseReport): string[] {
  const overFloor = r.imports.filter((i) => i.requests !== i.floor);
  const overService = r.imports.filter((i) => i.requests !== i.servicePages);
  const unfinished = r.imports.filter((i) => i.doneAfterMs === null);
  const backlogged = r.windows.filter((w) => w.backlog);
  const full = backlogged.filter((w) => capReached(w) >= 0.9);
  const spent = backlogged.filter((w) => w.cap === 0);
  const sizes = r.imports.map((i) => i.activities);
  const windowsToShow = r.windows.length <= 14 ? r.windows : [...r.windows.slice(0, 6), null, ...r.windows.slice(-6)];
  const lowest = backlogged.filter((w) => w.cap > 0).reduce<WindowUse | undefined>((a, w) => (!a || capReached(w) < capReached(a) ? w : a), undefined);
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
    `- Backlogged windows (imports still waiting at the window's end): ${backlogged.length}; **the window's requests reached >= 90 % of background's cap in ${full.length} of ${backlogged.length}**` +
      (lowest ? ` (lowest with a cap: ${pct(capReached(lowest), 1)}, ${lowest.background} background + ${lowest.other} realtime of ${lowest.cap} at ${iso(lowest.windowStart)})` : '') +
      (spent.length ? `; in ${spent.length} of them the day's background allowance was already spent (cap 0: nothing for background until the next UTC day)` : '') + '.',
    `- **Last import completed after ${r.lastImportMs === null ? 'not all completed' : fmtDuration(r.lastImportMs)}**. Ideal by the budget (the first moment the windows' caps let the ${r.totalPages}th request go, requests taking no time), ` +
      `with the realtime requests the run had: ${fmtDuration(r.boundMs)}${ratio(r.lastImportMs, r.boundMs)}; with no realtime at all: ${fmtDuration(r.boundWithoutRealtimeMs)}${ratio(r.lastImportMs, r.boundWithoutRealtimeMs)}; ` +
      `the issue's total pages / allowed rate (${Math.round(allowedBackgroundRatePerMs(r.budget) * 86_400_000).toLocaleString('en')} a day): ${fmtDuration(r.simpleIdealMs)}${ratio(r.lastImportMs, r.simpleIdealMs)}.`,
    '',
    '| window (governor clock) | background requests | others (realtime) | background cap | cap reached | backlog at the end |',
    '|---|---|---|---|---|---|',
    ...windowsToShow.map((w) =>
      w === null
        ? `| ... ${r.windows.length - 12} more windows ... | | | | | |`
        : `| ${iso(w.windowStart)} | ${w.background} | ${w.other} | ${w.cap} | ${pct(capReached(w), 1)} | ${w.backlog ? 'yes' : 'no'} |`,
    ),
    '',
    `"Background cap" is what background may bring the window's total (every priority) to: the least of its window share (${Math.floor(r.budget.windowLimit * r.budget.backgroundShare)}) and what the day allowance (pace + head start; src/strava/rate-governor.ts dayTerms / dayAllowance) leaves after the day's earlier windows. "Cap reached": the window's requests of every priority against that cap (realtime counts: the governor counts it against background's caps too). Windows are ${WINDOW_MS / 60_000} minutes.`,
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
    '',
    'Where the time goes, p50 / p99 ms per stage (PostgreSQL transaction times: inbox row written, relay claim, activity row written):',
    '',
    `| step | ${Object.keys(r.baseline.stages).join(' | ')} |`,
    `|---|${Object.keys(r.baseline.stages).map(() => '---').join('|')}|`,
    ...steps.map((s) => `| ${s.label} | ${Object.values(s.stages).map((v) => (v ? `${ms(v.p50)} / ${ms(v.p99)}` : '—')).join(' | ')} |`),
    '',
    `Timeline after the connects began (${r.timeline.length > 1 ? r.timeline[1]!.fromS - r.timeline[0]!.fromS : 10} s buckets; webhooks by receipt, runs by start): webhook receipt -> row written, the relay's claim, the realtime fetch's own run time, and the import pages beside them.`,
    '',
    '| from s | webhooks | receipt -> row p99 / max ms | receipt -> relay claim p99 ms | fetch run p99 ms | import pages / refused | import page run p99 ms |',
    '|---|---|---|---|---|---|---|',
    ...r.timeline.map((t) => `| ${t.fromS} | ${t.events} | ${ms(t.receiptToRowP99 ?? undefined)} / ${ms(t.receiptToRowMax ?? undefined)} | ${ms(t.inboxToClaimP99 ?? undefined)} | ${ms(t.fetchRunP99 ?? undefined)} | ${t.importPages} / ${t.importRefusals} | ${ms(t.importRunP99 ?? undefined)} |`),
  ];
}
