import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { keyId as keyIdOf } from '../config.js';

/**
 * AES-256-GCM for tokens at rest. Layout: version(1) | nonce(12) | tag(16) | ciphertext. A fresh random nonce
 * per value. The additional authenticated data binds each ciphertext to its athlete and field, so a ciphertext
 * copied onto another athlete's row or swapped between columns fails to decrypt. The key id is stored in the
 * row (tokens.key_id): the current key encrypts, older keys (TOKEN_DECRYPTION_KEYS) still decrypt.
 */

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type TokenField = 'access' | 'refresh';

export class TokenDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenDecryptionError';
  }
}

export interface TokenCipher {
  readonly keyId: string;
  encrypt(plaintext: string, athleteId: number, field: TokenField): Buffer;
  decrypt(ciphertext: Buffer, keyId: string, athleteId: number, field: TokenField): string;
}

function aad(athleteId: number, field: TokenField): Buffer {
  return Buffer.from(`strava-sync:token:${athleteId}:${field}`);
}

export function createTokenCipher(options: { key: Buffer; keyId: string; oldKeys?: Buffer[] }): TokenCipher {
  if (options.key.length !== 32) throw new RangeError('the token encryption key must be 32 bytes');
  const keys = new Map<string, Buffer>();
  for (const old of options.oldKeys ?? []) keys.set(keyIdOf(old), old);
  keys.set(options.keyId, options.key);

  return {
    keyId: options.keyId,

    encrypt(plaintext, athleteId, field) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', options.key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(athleteId, field));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]);
    },

    decrypt(ciphertext, keyId, athleteId, field) {
      const key = keys.get(keyId);
      // Messages name the key id and athlete only: never key material or ciphertext.
      if (!key) throw new TokenDecryptionError(`no key with id ${keyId} is configured (athlete ${athleteId}); add it to TOKEN_DECRYPTION_KEYS`);
      if (ciphertext.length < 1 + NONCE_BYTES + TAG_BYTES || ciphertext[0] !== VERSION) {
        throw new TokenDecryptionError(`stored ${field} token of athlete ${athleteId} is malformed`);
      }
      const nonce = ciphertext.subarray(1, 1 + NONCE_BYTES);
      const tag = ciphertext.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      const body = ciphertext.subarray(1 + NONCE_BYTES + TAG_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(athleteId, field));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        throw new TokenDecryptionError(`stored ${field} token of athlete ${athleteId} failed authentication (tampered or wrong key)`);
      }
    },
  };
}
