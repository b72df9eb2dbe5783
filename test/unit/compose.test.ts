import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, configSchema, loadConfig } from '../../src/config.js';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes.js';

/**
 * docker-compose.yml read as data (there is no Docker engine here to run it): every service that runs strava-sync
 * gets every setting the code requires in production, only settings the code knows, and addresses of services that
 * exist; the Temporal one-shots register what the workflows need.
 */

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  env_file?: string | string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const APP_SERVICES = ['migrate', 'api', 'worker'];

/** The variables a service receives: its env_file's keys (from the .env.example template) and its environment. */
function environmentOf(service: Service): Record<string, string> {
  const env: Record<string, string> = {};
  for (const file of [service.env_file ?? []].flat()) {
    const template = file === '.env' ? '.env.example' : file;
    for (const line of readFileSync(root(template), 'utf8').split('\n')) {
      const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (match) env[match[1]!] = match[2]!;
    }
  }
  // Compose interpolates ${POSTGRES_PASSWORD:?...} from .env; give it a value the way compose would.
  for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = String(value).replace(/\$\{POSTGRES_PASSWORD[^}]*\}/g, 'secret');
  return env;
}

/** The settings loadConfig requires in production, read from its own refusal of an empty production environment. */
function requiredInProduction(): string[] {
  try {
    loadConfig({ NODE_ENV: 'production' });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.filter((p) => p.endsWith(': is required')).map((p) => p.split(':')[0]!);
    throw error;
  }
  return [];
}

const hostOf = (address: string) => (address.includes('://') ? new URL(address).hostname : address.split(':')[0]!);

describe('docker-compose.yml', () => {
  it('gives every strava-sync service each setting the code requires in production', () => {
    const required = requiredInProduction();
    expect(required).toEqual(expect.arrayContaining(['ADMIN_API_KEY', 'TOKEN_ENCRYPTION_KEY', 'STRAVA_CLIENT_SECRET']));
    for (const name of APP_SERVICES) {
      const env = environmentOf(services[name]!);
      expect(env.NODE_ENV, name).toBe('production');
      for (const setting of [...required, 'DATABASE_URL', 'TEMPORAL_ADDRESS', 'PUBLIC_URL']) {
        expect(Object.keys(env), `${name} lacks ${setting}`).toContain(setting);
      }
    }
  });

  it('sets only settings the code knows (a misspelt variable would be silently ignored)', () => {
    const known = new Set(Object.keys(configSchema.shape));
    for (const name of APP_SERVICES) {
      for (const key of Object.keys(environmentOf(services[name]!))) {
        if (key === 'POSTGRES_PASSWORD') continue; // compose's own, interpolated into DATABASE_URL
        expect(known.has(key), `${name}: ${key} is not a setting of src/config.ts`).toBe(true);
      }
    }
  });

  it('points the apps at services of this file, and the values it sets pass the config schema', () => {
    for (const name of APP_SERVICES) {
      const env = environmentOf(services[name]!);
      expect(Object.keys(services)).toContain(hostOf(env.DATABASE_URL!));
      expect(Object.keys(services)).toContain(hostOf(env.TEMPORAL_ADDRESS!));
      for (const key of Object.keys(services[name]!.environment ?? {})) {
        const schema = configSchema.shape[key as keyof typeof configSchema.shape];
        expect(schema.safeParse(env[key]).success, `${name}: ${key}=${env[key]}`).toBe(true);
      }
    }
  });

  it('runs two API replicas behind one published port and two workers', () => {
    expect(services.api!.deploy?.replicas).toBe(2);
    expect(services.api!.ports ?? []).toEqual([]);
    expect(services.worker!.deploy?.replicas).toBe(2);
    expect(services['api-proxy']!.ports).toHaveLength(1);
    const nginx = readFileSync(root('deploy/nginx/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/server api:3000/);
    expect(nginx).toMatch(/proxy_buffering off/); // server-sent events
  });

  it('runs temporalio/server with schemas and search attributes from one-shot admin-tools jobs', () => {
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    for (const job of ['temporal-schema', 'temporal-namespace']) expect(services[job]!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(Object.values(services).some((s) => s.image?.startsWith('temporalio/auto-setup'))).toBe(false);
    const setup = readFileSync(root('deploy/temporal/setup-namespace.sh'), 'utf8');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(setup, `search attribute ${name}`).toMatch(new RegExp(`add_attribute ${name} ${type}\\b`));
    }
    expect(readFileSync(root('deploy/temporal/setup-schema.sh'), 'utf8')).toMatch(/update-schema/);
  });

  it('pins every image and mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue;
      expect(service.image, name).toMatch(/^[^:]+:(?!latest$)[\w.${}:-]+$/);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(root(source.slice(2))), `${name} mounts ${source}`).toBe(true);
      }
    }
  });
});
