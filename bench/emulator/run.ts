/**
 * Emulator benchmark: autocannon against GET /activities/{id} and GET /athlete/activities?per_page=200, with a
 * bare node:http server answering bodies of the same size as the baseline, measured in the same run. Servers
 * run in child processes so the load generator does not share their event loop.
 *
 *   npx tsx bench/emulator/run.ts [--duration 10] [--connections 50] [--write]
 *
 * --write records the results in bench/emulator/RESULTS.md.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, write: { type: 'boolean', default: false } } });
const duration = Number(values.duration);
const connections = Number(values.connections);

async function startChild(args: string[]): Promise<{ child: ChildProcess; info: Record<string, string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'server.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { child, info: JSON.parse(line) as Record<string, string> };
}

interface Row {
  target: string;
  endpoint: string;
  requestsPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  bytes: number;
}

async function load(target: string, endpoint: string, url: string, headers: Record<string, string>): Promise<Row> {
  // Warm-up: JIT and the emulator's JSON caches.
  await autocannon({ url, headers, connections, duration: 2 });
  const result = await autocannon({ url, headers, connections, duration });
  return {
    target,
    endpoint,
    requestsPerSec: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    bytes: Math.round(result.throughput.average / Math.max(result.requests.average, 1)),
  };
}

const emulator = await startChild(['emulator']);
const { apiUrl, accessToken, activityId, generatedMs } = emulator.info as Record<string, string>;
const auth = { authorization: `Bearer ${accessToken}` };
const detailUrl = `${apiUrl}/activities/${activityId}`;
const listUrl = `${apiUrl}/athlete/activities?per_page=200`;
const [detailBody, listBody] = await Promise.all([fetch(detailUrl, { headers: auth }).then((r) => r.text()), fetch(listUrl, { headers: auth }).then((r) => r.text())]);

const rows: Row[] = [];
try {
  rows.push(await load('emulator', 'GET /activities/{id}', detailUrl, auth));
  rows.push(await load('emulator', 'GET /athlete/activities?per_page=200', listUrl, auth));
} finally {
  emulator.child.kill();
}
const bodies = await mkdtemp(join(tmpdir(), 'emulator-bench-'));
await writeFile(join(bodies, 'detail.json'), detailBody);
await writeFile(join(bodies, 'list.json'), listBody);
const baseline = await startChild(['baseline', join(bodies, 'detail.json'), join(bodies, 'list.json')]);
try {
  rows.push(await load('bare node:http', 'same-size detail body', `${baseline.info.url}/detail`, {}));
  rows.push(await load('bare node:http', 'same-size list body', `${baseline.info.url}/list`, {}));
} finally {
  baseline.child.kill();
  await rm(bodies, { recursive: true, force: true });
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, load average before run ${loadavg().map((n) => n.toFixed(2)).join(' ')}`;
const table = [
  '| target | endpoint | req/s | p50 ms | p99 ms | non-2xx | bytes/response |',
  '|---|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.target} | ${r.endpoint} | ${r.requestsPerSec} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.bytes} |`),
].join('\n');
console.log(`${machine}\ngenerated 100 athletes x 1,000 activities in ${generatedMs} ms\n\n${table}`);

if (values.write) {
  const text = `# Emulator benchmark

Command: \`npx tsx bench/emulator/run.ts --duration ${duration} --connections ${connections} --write\`
(autocannon, ${connections} connections, ${duration} s per endpoint after a 2 s warm-up; servers in child processes).

Machine: ${machine}. Date: ${new Date().toISOString()}.
The machine is shared with other work (other engineers' test suites) during the run, so the absolute numbers
are a floor; the baseline measured in the same run shows how much of the machine was available.

Data: 100 athletes x 1,000 generated activities (generated in ${generatedMs} ms); the list endpoint returns 200
SummaryActivity objects per response; rate limits raised so no request is refused.

${table}

Targets (issue 3): GET /activities/{id} >= 2,000 req/s, GET /athlete/activities?per_page=200 >= 300 req/s.
`;
  await writeFile(join(here, 'RESULTS.md'), text);
}
