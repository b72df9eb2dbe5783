import { spawn, type ChildProcess } from 'node:child_process';

export interface Supervised {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** How this child is stopped, when it needs more than TERM then KILL (PostgreSQL). */
  stop?: () => Promise<void>;
}

/**
 * Owns the child processes of `strava-sync dev`: prefixes their output, and stops every one of them (TERM, then
 * KILL after a grace period) when asked or when one of them dies unexpectedly.
 */
export class Supervisor {
  private readonly children: Supervised[] = [];
  private stopping = false;

  constructor(private readonly onUnexpectedExit: (name: string, code: number | null) => void) {}

  spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Supervised {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = `[${name}] `;
    const forward = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
      const text = chunk.toString().replace(/\n(?=.)/g, `\n${prefix}`);
      stream.write(prefix + text);
    };
    child.stdout?.on('data', forward(process.stdout));
    child.stderr?.on('data', forward(process.stderr));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        if (!this.stopping) this.onUnexpectedExit(name, code);
        resolve(code);
      }),
    );
    const supervised = { name, child, exited };
    this.children.push(supervised);
    return supervised;
  }

  /**
   * Adopts a process started elsewhere (the Temporal dev server, PostgreSQL) so it is stopped with the rest, by
   * its own stop() when given; its death is reported like a spawned child's.
   */
  adopt(name: string, child: ChildProcess, stop?: () => Promise<void>): void {
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        if (!this.stopping) this.onUnexpectedExit(name, code);
        resolve(code);
      }),
    );
    this.children.push({ name, child, exited, stop });
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Stops children in reverse start order so the API drains before the worker and Temporal go away. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const { child, exited, stop } of [...this.children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      if (stop) {
        await stop();
        continue;
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  }
}
