import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { quietRuntime, workflowBundle } from '../helpers/temporal.js';
import { FIXTURES_DIR } from '../integration/workflow-harness.js';

/**
 * Histories recorded from the integration runs (RECORD_HISTORIES=1 npx vitest run test/integration/workflow-sync.test.ts)
 * replayed against the current workflow bundle: a change that would break running workflows fails here.
 */
describe('recorded athlete workflow histories replay against the current code', () => {
  it('replays every fixture without nondeterminism', async () => {
    quietRuntime();
    const files = (await readdir(FIXTURES_DIR)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThan(0);
    const histories = await Promise.all(
      files.map(async (file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(await readFile(join(FIXTURES_DIR, file), 'utf8'))) })),
    );
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
