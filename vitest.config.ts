import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The Temporal SDK's native addon crashes under worker threads: keep the default forks pool.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more parallel files only contend for CPU with the Temporal server.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
