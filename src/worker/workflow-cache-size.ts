/**
 * How many athlete workflows the worker keeps cached. A cached workflow applies a signal at once; an evicted one is
 * replayed from its history first (up to CONTINUE_AS_NEW_AFTER_EVENTS events), which is what made event-to-visible
 * latency rise once a fleet outgrew the SDK's heap-based default. bench/worker-cache measured ~0.8 MiB of worker
 * memory per cached idle athlete workflow: the default holds as many as half the memory the process may use allows.
 */
export const CACHED_WORKFLOW_BYTES = 800 * 1024;

/** Memory the process may use: the cgroup limit when there is one (containers), else the machine's. */
function memoryLimitBytes(totalMemory: number, constrained: number | undefined): number {
  return constrained && constrained > 0 && constrained < totalMemory ? constrained : totalMemory;
}

export function defaultMaxCachedWorkflows(totalMemory: number, constrained: number | undefined): number {
  return Math.max(100, Math.floor((0.5 * memoryLimitBytes(totalMemory, constrained)) / CACHED_WORKFLOW_BYTES));
}
