import { Router } from 'express';
import { parseInput } from '../http/errors.js';
import { settingsUpdateSchema } from './schemas.js';
import type { SettingsSync } from './settings-sync.js';

export const SETTINGS_PATH = '/admin/settings';

/** GET and PUT /admin/settings, mounted at SETTINGS_PATH (the app checks the admin key and parses the JSON body first). */
export function settingsRouter(settings: SettingsSync): Router {
  const router = Router();
  router.get('/', async (_req, res) => {
    res.json(await settings.view());
  });
  router.put('/', async (req, res) => {
    const update = parseInput(settingsUpdateSchema, req.body ?? {}, 'body');
    res.json(await settings.change(update, { by: req.ip }));
  });
  return router;
}
