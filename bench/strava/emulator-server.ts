/** Emulator in its own process for the benchmark (so the load generator does not share its event loop). */
import { startEmulator } from '../../src/emulator/index.js';

const emulator = await startEmulator({
  seed: 11,
  rateLimits: { overall: { fifteenMinute: 1e9, daily: 1e9 }, read: { fifteenMinute: 1e9, daily: 1e9 } },
});
process.stdout.write(JSON.stringify({ baseUrl: emulator.baseUrl, apiUrl: emulator.apiUrl, oauthUrl: emulator.oauthUrl, clientId: emulator.clientId, clientSecret: emulator.clientSecret }) + '\n');
process.on('SIGTERM', () => void emulator.close().then(() => process.exit(0)));
