/**
 * Child process of the emulator benchmark: starts either the emulator (100 athletes x 1,000 activities, limits
 * high enough not to interfere) or a bare node:http baseline that answers a pre-serialized JSON body of the
 * same size, then prints one JSON line with what the load generator needs.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator } from '../../src/emulator/index.js';

const mode = process.argv[2] ?? 'emulator';

if (mode === 'baseline') {
  // Bodies come as file paths: a 200-activity list is too large for a command line.
  const detail = readFileSync(process.argv[3]!, 'utf8');
  const list = readFileSync(process.argv[4]!, 'utf8');
  const server = createServer((req, res) => {
    const body = req.url?.startsWith('/list') ? list : detail;
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
} else {
  const started = Date.now();
  const huge = { fifteenMinute: 1e9, daily: 1e9 };
  const emulator = await startEmulator({ seed: 42, athletes: 100, activitiesPerAthlete: 1000, rateLimits: { overall: huge, read: huge } });
  const generatedMs = Date.now() - started;
  const athletes = await emulator.control.listAthletes();
  const athlete = athletes[0]!;
  const { accessToken } = await emulator.control.issueTokens(athlete.id);
  const activity = (await emulator.control.groundTruth(athlete.id, { readAll: true }))[10]!;
  console.log(JSON.stringify({ url: emulator.baseUrl, apiUrl: emulator.apiUrl, accessToken, activityId: activity.id, generatedMs }));
}
