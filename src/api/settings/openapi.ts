import type { OpenApiContribution } from '../openapi/document.js';
import { SETTINGS_PATH } from './router.js';
import { settingsUpdateSchema, settingsViewSchema } from './schemas.js';

/** Documents /admin/settings from the schemas the routes parse and answer with. */
export const settingsOpenApi: OpenApiContribution = (registry, { errorResponse, adminSecurity }) => {
  const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
  const unauthorized = { 401: errorResponse('Missing or wrong admin key') };
  registry.registerPath({
    method: 'get',
    path: SETTINGS_PATH,
    summary: 'The settings that reach running workflows: in effect, defaults, last change',
    security: adminSecurity as never,
    responses: { 200: json(settingsViewSchema, 'Settings'), ...unauthorized },
  });
  registry.registerPath({
    method: 'put',
    path: SETTINGS_PATH,
    summary: 'Change settings (any subset; null: back to the default); running workflows apply the change within a minute',
    description:
      'Audited in a log line (old -> new). Running athlete workflows are signalled at once, and a pass every 30 s ' +
      'signals any that missed it (search attribute SettingsVersion below the new version).',
    security: adminSecurity as never,
    request: { body: { content: { 'application/json': { schema: settingsUpdateSchema } } } },
    responses: {
      200: json(settingsViewSchema, 'The settings after the change'),
      400: errorResponse('Unknown setting, wrong type or out of bounds (the message names the field)'),
      415: errorResponse('Body not application/json'),
      ...unauthorized,
    },
  });
};
