import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalTestServerPath } from '../../src/dev/temporal-binaries.js';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes.js';
import { quietRuntime } from './temporal.js';

const SEARCH_ATTRIBUTE_TYPES = { Keyword: 2, Int: 3, Datetime: 6 } as const; // temporal.api.enums.v1.IndexedValueType

/** Starts the time-skipping test server from the project venv with our search attributes registered. */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, SEARCH_ATTRIBUTE_TYPES[type]]),
    ),
  });
  return env;
}
