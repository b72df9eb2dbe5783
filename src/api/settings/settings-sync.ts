import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Sql } from '../../db/connection.js';
import { changeSettings, readSettings, type StoredSettings } from '../../db/repositories/settings.js';
import type { FleetSettings } from '../../domain/fleet-settings.js';
import type { AthleteGateway, SettingsSendResult } from '../../temporal/athlete-gateway.js';
import { SETTING_NAMES, SETTING_SCHEMAS, type SettingsUpdate, type SettingsValues, type SettingsView } from './schemas.js';

/**
 * The operator's settings and how they reach running athlete workflows. A change is written to PostgreSQL
 * (table `settings`, a new version), audited in a log line, and a settings pass starts at once; a pass also runs
 * every `intervalMs` in every API process. A pass reloads the settings (so a process serves and starts workflows
 * with the current ones, whichever process changed them) and signals `settings` to each running workflow of the
 * deployment whose search attribute SettingsVersion is older, found by one visibility query. A workflow that is
 * current is not signalled: checking costs its history nothing. Why a signal and not a read at every loop turn:
 * docs/workflow.md, "Settings that reach running workflows".
 */

export interface SettingsSyncDeps {
  sql: Sql;
  workflows: Pick<AthleteGateway, 'sendSettings'>;
  config: Pick<Config, 'BACKFILL_INTERVAL' | 'FOCUS_STALE_AFTER'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Time between two settings passes (default 30 s): a workflow the change missed gets it within this. */
  intervalMs?: number;
  /** Signals in flight at once during a pass (default 8). */
  concurrency?: number;
}

export interface SettingsSync {
  /** The settings as of the last load (undefined before the first): new workflows start with them. */
  current(): FleetSettings | undefined;
  /** GET /admin/settings (read afresh). */
  view(): Promise<SettingsView>;
  /** PUT /admin/settings: writes what differs, logs the change, starts a pass; answers like view(). */
  change(update: SettingsUpdate, audit: { by?: string }): Promise<SettingsView>;
  /** One pass now (waits for one in flight first): reload, then signal the workflows that miss the version. */
  passOnce(): Promise<SettingsSendResult & { version: number }>;
  /** A pass now, then every intervalMs. */
  start(): void;
  stop(): Promise<void>;
}

export function settingsDefaults(config: Pick<Config, 'BACKFILL_INTERVAL' | 'FOCUS_STALE_AFTER'>): SettingsValues {
  return { backfillIntervalMs: config.BACKFILL_INTERVAL, focusStaleAfterMs: config.FOCUS_STALE_AFTER, paused: false };
}

export function createSettingsSync(deps: SettingsSyncDeps): SettingsSync {
  const { sql, workflows, logger } = deps;
  const defaults = settingsDefaults(deps.config);
  const intervalMs = deps.intervalMs ?? 30_000;
  const concurrency = deps.concurrency ?? 8;
  let loaded: FleetSettings | undefined;
  let timer: NodeJS.Timeout | undefined;
  let passing: Promise<SettingsSendResult & { version: number }> | undefined;
  let next: Promise<SettingsSendResult & { version: number }> | undefined;

  /** The stored values that still pass their rule, over the defaults (a hand-edited bad value falls back). */
  function effective(stored: StoredSettings): SettingsValues {
    const values: SettingsValues = { ...defaults };
    for (const name of SETTING_NAMES) {
      if (!(name in stored.values)) continue;
      const parsed = SETTING_SCHEMAS[name].safeParse(stored.values[name]);
      if (parsed.success) (values as Record<string, unknown>)[name] = parsed.data;
      else logger.warn({ setting: name }, 'settings: stored value out of bounds; the default applies');
    }
    return values;
  }

  function remember(stored: StoredSettings): SettingsView {
    const settings = effective(stored);
    loaded = { version: stored.version, ...settings };
    return { settings, defaults, updatedAt: stored.updatedAt?.toISOString() ?? null, version: stored.version };
  }

  async function pass(): Promise<SettingsSendResult & { version: number }> {
    remember(await readSettings(sql));
    const settings = loaded!;
    const sent = await workflows.sendSettings(settings, concurrency);
    if (sent.signalled > 0 || sent.failed > 0) {
      logger.info({ version: settings.version, ...sent }, 'settings: sent to running workflows that had an older version');
    }
    return { version: settings.version, ...sent };
  }

  /** Runs passes one at a time; requests during a pass share one more pass after it (it may bring a newer version). */
  function passOnce(): Promise<SettingsSendResult & { version: number }> {
    if (passing) {
      next ??= passing
        .catch(() => {})
        .then(() => {
          next = undefined;
          return passOnce();
        });
      return next;
    }
    const current = pass().finally(() => {
      passing = undefined;
    });
    passing = current;
    return current;
  }

  function tick(): Promise<void> {
    return passOnce().then(
      () => {},
      (error: unknown) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'settings pass failed; the next one tries again'),
    );
  }

  return {
    current: () => loaded,
    async view() {
      return remember(await readSettings(sql));
    },
    async change(update, audit) {
      const { before, after } = await changeSettings(sql, (stored) => {
        const now = effective(stored);
        const writes: Record<string, unknown> = {};
        for (const name of SETTING_NAMES) {
          const value = update[name];
          if (value === undefined) continue;
          // A value is written when it changes what applies; null (back to the default) when one is stored.
          if (value === null ? name in stored.values : value !== now[name]) writes[name] = value;
        }
        return writes;
      });
      const [from, to] = [effective(before), effective(after)];
      const changes = Object.fromEntries(SETTING_NAMES.filter((name) => from[name] !== to[name]).map((name) => [name, { from: from[name], to: to[name] }]));
      const view = remember(after);
      if (after.version !== before.version) {
        logger.info({ audit: 'settings_changed', by: audit.by, version: after.version, changes }, 'settings changed');
        void tick();
      }
      return view;
    },
    passOnce,
    start() {
      if (timer) return;
      void tick();
      timer = setInterval(() => void tick(), intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await (next ?? passing)?.catch(() => {});
    },
  };
}
