// Runs only the emulator's tests, without the project's Temporal global setup (they need neither Temporal
// nor PostgreSQL): `npx vitest run --config test/emulator/vitest.config.ts`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['test/emulator/**/*.test.ts'], pool: 'forks', testTimeout: 60_000, maxWorkers: 2 },
});
