import { createHash } from 'node:crypto'
import { LayerleakError } from './errors.ts'

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/

/** `sha256:abcdef…` -> the first 12 hex characters, as docker prints image ids */
export const shortDigest = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12)

export const isDigest = (value: string): boolean => DIGEST.test(value)

export const assertDigest = (value: string, what = 'digest'): string => {
  if (!isDigest(value)) throw new LayerleakError('INVALID_MANIFEST', `invalid ${what} "${value}"`)
  return value
}

export const algorithmOf = (digest: string): 'sha256' | 'sha512' => (digest.startsWith('sha512:') ? 'sha512' : 'sha256')

export const sha256Digest = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

export const digestOf = (bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string =>
  `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`

/** Throws DIGEST_MISMATCH unless `bytes` hash to `expected`. */
export const verifyDigest = (bytes: Uint8Array, expected: string, what: string): void => {
  const actual = digestOf(bytes, algorithmOf(expected))
  if (actual !== expected) {
    throw new LayerleakError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`, { details: { expected, actual } })
  }
}

/**
 * A pass-through that hashes a stream as it flows and fails at the end when the bytes do not
 * match. Bytes are never held: a layer of any size costs one hash state.
 */
export const verifyingStream = (expected: string, what: string): TransformStream<Uint8Array, Uint8Array> => {
  const hash = createHash(algorithmOf(expected))
  return new TransformStream({
    transform(chunk, controller) {
      hash.update(chunk)
      controller.enqueue(chunk)
    },
    flush(controller) {
      const actual = `${algorithmOf(expected)}:${hash.digest('hex')}`
      if (actual !== expected) {
        controller.error(new LayerleakError('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`, { details: { expected, actual } }))
      }
    },
  })
}
