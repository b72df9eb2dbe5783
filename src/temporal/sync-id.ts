import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * The syncId a caller gets for a sync-now request that outlived its wait: enough to find the Update again later.
 * Opaque to callers (base64url JSON), checked on the way back in: a forged or damaged id decodes to undefined.
 */
export interface SyncRef {
  /** Update id. */
  u: string;
  /** Run id, once known. */
  r?: string;
  /** When the request was made (epoch ms): an update not found yet may still be on its way. */
  t?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const newSyncNowUpdateId = (): string => `sync-now-${randomUUID()}`;

/** What encodeSyncId writes; anything else is not one of ours. */
const syncRefSchema = z.object({
  u: z.string().regex(new RegExp(`^sync-now-${UUID.source.slice(1, -1)}$`)),
  r: z.string().regex(UUID).optional(),
  t: z.number().int().nonnegative().max(8.64e15).optional(),
});

export const encodeSyncId = (ref: SyncRef): string => Buffer.from(JSON.stringify(ref)).toString('base64url');

export function decodeSyncId(text: string): SyncRef | undefined {
  try {
    const parsed = syncRefSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    if (!parsed.success) return undefined;
    const { u, r, t } = parsed.data;
    return { u, ...(r !== undefined ? { r } : {}), ...(t !== undefined ? { t } : {}) };
  } catch {
    return undefined;
  }
}
