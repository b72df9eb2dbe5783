/**
 * The service's parts as separate OS processes for the chaos scenario: the API (`strava-sync api`), workers
 * (the worker fixture, wired like `strava-sync worker` on a prebuilt bundle) and the Temporal dev server on a
 * persisted SQLite file. Each can be killed or restarted on the same port, and their output goes to log files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevServer, type RunningDevServer } from '../../src/dev/temporal-dev-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'src', 'cli.ts');
const WORKER_FIXTURE = join(ROOT, 'test', 'integration', 'fixtures', 'worker-process.ts');
const CLOCK_OFFSET = join(ROOT, 'test', 'chaos', 'clock-offset.mjs');

export interface ChildHandle {
  name: string;
  child: ChildProcess;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** SIGKILL: no goodbye to anyone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

function handleOf(name: string, child: ChildProcess): ChildHandle {
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    exited,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Node with tsx, the wall-clock shift when one is configured (see clock-offset.ts), and V8 CPU profiles when
 * CPU_PROFILE_DIR names a directory (Node refuses --cpu-prof in NODE_OPTIONS, so it goes on the command line).
 */
function nodeArgs(env: Record<string, string>, script: string): string[] {
  const args = ['--import', 'tsx'];
  if (env.CHAOS_CLOCK_OFFSET_MS && env.CHAOS_CLOCK_OFFSET_MS !== '0') args.push('--import', CLOCK_OFFSET);
  if (env.CPU_PROFILE_DIR) args.push('--cpu-prof', `--cpu-prof-dir=${env.CPU_PROFILE_DIR}`);
  return [...args, script];
}

export class ServiceProcesses {
  private logs: WriteStream;
  private serial = 0;
  temporal: RunningDevServer | undefined;
  api: ChildHandle | undefined;
  /** Workers that poll, oldest first. */
  workers: ChildHandle[] = [];
  private starting = new Set<ChildHandle>();

  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
    private readonly temporalOptions: { port: number; /** Omitted: the in-memory store. */ dbFilename?: string; dynamicConfig?: Record<string, unknown>; env?: Record<string, string> },
  ) {
    this.logs = createWriteStream(join(dir, 'processes.log'));
  }

  get logFile(): string {
    return join(this.dir, 'processes.log');
  }

  private pipe(name: string, child: ChildProcess): void {
    const prefix = `[${name}] `;
    const write = (chunk: Buffer) => this.logs.write(prefix + chunk.toString().replace(/\n(?=.)/g, `\n${prefix}`));
    child.stdout?.on('data', write);
    child.stderr?.on('data', write);
  }

  note(line: string): void {
    this.logs.write(`[chaos] ${new Date().toISOString()} ${line}\n`);
  }

  async startTemporal(): Promise<void> {
    this.temporal = await startDevServer({ ...this.temporalOptions, log: (line) => this.logs.write(`[temporal] ${line}`) });
  }

  /** Stops the dev server (SIGTERM) and starts it again on the same port and SQLite file. */
  async restartTemporal(downMs = 0): Promise<void> {
    await this.temporal?.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.startTemporal();
  }

  async startApi(): Promise<ChildHandle> {
    const name = `api-${++this.serial}`;
    const child = spawn(process.execPath, nodeArgs(this.env, CLI).concat('api'), { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pipe(name, child);
    const handle = handleOf(name, child);
    this.api = handle;
    const url = `${this.env.PUBLIC_URL}/healthz`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited during start-up; see ${this.logFile}`);
      const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ok) return handle;
      if (Date.now() > deadline) {
        await handle.kill();
        throw new Error(`${name} did not answer ${url} within 60 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }

  /** Graceful stop (a deploy), then a new API process on the same port. */
  async restartApi(): Promise<void> {
    await this.api?.stop(15_000);
    await this.startApi();
  }

  /**
   * A new worker process; resolves once it polls. A worker that exits before it is ready (Temporal unreachable
   * while it connects) is started again after a second, as a process supervisor would.
   */
  async startWorker(attempts = 10): Promise<ChildHandle> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startWorkerOnce();
      } catch (error) {
        if (attempt >= attempts) throw error;
        this.note(`worker start failed (${error instanceof Error ? error.message : String(error)}); starting another`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  private async startWorkerOnce(): Promise<ChildHandle> {
    const name = `worker-${++this.serial}`;
    const child = spawn(process.execPath, nodeArgs(this.env, WORKER_FIXTURE), {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.pipe(name, child);
    const handle = handleOf(name, child);
    this.starting.add(handle);
    const ready = new Promise<void>((resolve, reject) => {
      child.on('message', (message: { type?: string }) => {
        if (message?.type === 'ready') resolve();
      });
      void handle.exited.then(([code, signal]) => reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal}); see ${this.logFile}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([ready, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${name} not ready within 60 s`)), 60_000)))]);
    } catch (error) {
      await handle.kill();
      throw error;
    } finally {
      clearTimeout(timer);
      this.starting.delete(handle);
    }
    this.workers.push(handle);
    return handle;
  }

  /** SIGKILLs the oldest worker that polls (the one with the most work cached); false when none does. */
  async killWorker(): Promise<boolean> {
    const worker = this.workers.shift();
    await worker?.kill();
    return worker !== undefined;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.workers, ...this.starting].map((w) => w.stop(5_000)));
    this.workers = [];
    await this.api?.stop(5_000);
    await this.temporal?.stop();
    await new Promise<void>((resolve) => this.logs.end(() => resolve()));
  }
}
