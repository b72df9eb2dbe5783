import { z } from 'zod';
import { SETTING_BOUNDS } from '../../domain/fleet-settings.js';

/** Zod schemas of /admin/settings (request parsing, the stored values' check, and /openapi.json). */

const human = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} hours` : `${ms / 60_000} minutes`);
const bounded = ({ min, max }: { min: number; max: number }) =>
  z
    .number()
    .int('must be a whole number of milliseconds')
    .min(min, `must be at least ${human(min)} (${min} ms)`)
    .max(max, `must be at most ${human(max)} (${max} ms)`);

/** Each setting's rule: what PUT accepts, and what a stored value must still satisfy to be used. */
export const SETTING_SCHEMAS = {
  backfillIntervalMs: bounded(SETTING_BOUNDS.backfillIntervalMs).meta({
    description: 'Base interval between background backfills, ms (15 minutes to 14 days; default BACKFILL_INTERVAL)',
  }),
  focusStaleAfterMs: bounded(SETTING_BOUNDS.focusStaleAfterMs).meta({
    description: 'App focus syncs only when the last sync is older than this, ms (1 minute to 7 days; default FOCUS_STALE_AFTER)',
  }),
  paused: z.boolean().meta({ description: 'Fleet-wide pause: no athlete workflow calls Strava; webhooks keep being recorded' }),
} as const;
export type SettingName = keyof typeof SETTING_SCHEMAS;
export const SETTING_NAMES = Object.keys(SETTING_SCHEMAS) as SettingName[];

export const settingsValuesSchema = z
  .object({ backfillIntervalMs: z.number().int(), focusStaleAfterMs: z.number().int(), paused: z.boolean() })
  .meta({ id: 'SettingsValues' });
export type SettingsValues = z.infer<typeof settingsValuesSchema>;

export const settingsViewSchema = z
  .object({
    settings: settingsValuesSchema.meta({ description: 'In effect now: the stored value, or the default' }),
    defaults: settingsValuesSchema.meta({ description: 'The environment values (BACKFILL_INTERVAL, FOCUS_STALE_AFTER; paused false)' }),
    updatedAt: z.iso.datetime().nullable().meta({ description: 'Last change (null: never changed)' }),
    version: z
      .number()
      .int()
      .meta({ description: 'Grows with every change; a workflow that applied it has search attribute SettingsVersion = version' }),
  })
  .meta({ id: 'Settings' });
export type SettingsView = z.infer<typeof settingsViewSchema>;

export const settingsUpdateSchema = z
  .object({
    backfillIntervalMs: SETTING_SCHEMAS.backfillIntervalMs.nullable().optional(),
    focusStaleAfterMs: SETTING_SCHEMAS.focusStaleAfterMs.nullable().optional(),
    paused: SETTING_SCHEMAS.paused.nullable().optional(),
  })
  .strict()
  .meta({ id: 'SettingsUpdate', description: 'Any subset of the settings; null sets one back to its default' });
export type SettingsUpdate = z.infer<typeof settingsUpdateSchema>;
