/**
 * zstd compression for test fixtures, by the real `zstd` CLI (Node 20 has no zstd in node:zlib).
 * `.ci/run` installs it; a missing binary is a loud failure, never a skip.
 */
import { spawnSync } from 'node:child_process'

export const zstdCompress = (bytes: Uint8Array): Uint8Array => {
  const result = spawnSync('zstd', ['-q', '-c'], { input: bytes, maxBuffer: 1024 * 1024 * 1024 })
  if (result.error) {
    const missing = (result.error as { code?: string }).code === 'ENOENT'
    throw new Error(missing ? 'the zstd CLI is not installed: run `apt-get install -y zstd` (.ci/run does this)' : `zstd failed: ${result.error.message}`)
  }
  if (result.status !== 0) throw new Error(`zstd exited with ${result.status}: ${result.stderr.toString()}`)
  return new Uint8Array(result.stdout)
}
