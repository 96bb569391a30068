/**
 * Writes each scan's result JSON under the findings directory, readable by its owner only (0600):
 * even redacted, a findings file tells where secrets are.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { Sink } from '../../core/contracts.ts'
import type { ScanResult } from '../../core/result.ts'

const optionsSchema = z.object({ directory: z.string().min(1).default('findings') }).strict()

/** `docker.io_library_alpine_latest_20260101T120000Z.json`: sortable, and safe on every filesystem */
export const findingsFileName = (result: ScanResult): string => {
  const subject = (result.resolved_reference || result.requested_reference).replace(/^[a-z-]+:\/*/i, (scheme) => scheme.replace(/[:/]+/g, '_'))
  const stamp = result.scanned_at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const safe = subject.replace(/@sha256:([a-f0-9]{12})[a-f0-9]*/, '@$1').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '')
  return `${safe.slice(0, 150)}_${stamp}.json`
}

export const jsonFileSink = (options: z.input<typeof optionsSchema> = {}): Sink => {
  const { directory } = optionsSchema.parse(options)
  return {
    name: 'json-file',
    async write(result) {
      await mkdir(directory, { recursive: true, mode: 0o700 })
      const path = join(directory, findingsFileName(result))
      const temporary = `${path}.${process.pid}.tmp`
      await writeFile(temporary, `${JSON.stringify(result, null, 2)}\n`, { mode: 0o600 })
      // mode on create is masked by umask; make sure, then publish atomically
      await chmod(temporary, 0o600)
      await rename(temporary, path)
      return { location: path }
    },
  }
}
