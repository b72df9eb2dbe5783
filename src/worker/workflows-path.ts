import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Entry point of the workflow bundle (the worker bundles it; tests bundle it once per run). */
export const WORKFLOWS_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');
