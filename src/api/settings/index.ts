export { settingsRouter, SETTINGS_PATH } from './router.js';
export { createSettingsSync, settingsDefaults, type SettingsSync, type SettingsSyncDeps } from './settings-sync.js';
export { settingsOpenApi } from './openapi.js';
export * from './schemas.js';
