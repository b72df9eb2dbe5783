import { describe, expect, it } from 'vitest';
import { CACHED_WORKFLOW_BYTES, defaultMaxCachedWorkflows } from '../../src/worker/workflow-cache-size.js';

const GiB = 2 ** 30;

describe('defaultMaxCachedWorkflows', () => {
  it('holds as many workflows as half the machine memory allows', () => {
    expect(defaultMaxCachedWorkflows(24 * GiB, undefined)).toBe(Math.floor((12 * GiB) / CACHED_WORKFLOW_BYTES));
    expect(defaultMaxCachedWorkflows(24 * GiB, undefined)).toBeGreaterThan(10_000);
  });

  it('sizes from the container limit when one is set, not from the host', () => {
    expect(defaultMaxCachedWorkflows(24 * GiB, 1 * GiB)).toBe(Math.floor((0.5 * GiB) / CACHED_WORKFLOW_BYTES));
  });

  it('ignores a limit of 0 (none known) and never goes below 100', () => {
    expect(defaultMaxCachedWorkflows(24 * GiB, 0)).toBe(defaultMaxCachedWorkflows(24 * GiB, undefined));
    expect(defaultMaxCachedWorkflows(64 * 2 ** 20, undefined)).toBe(100);
  });
});
