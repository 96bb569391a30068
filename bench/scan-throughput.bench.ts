/**
 * Throughput of the detection path, in the same run as plain gunzip of the same bytes:
 * (a) secret-free source code, (b) a dense mix of secrets and config, (c) the whole pipeline on a
 * fixture image. Task names carry the corpus size: MB/s = hz × size. Figures: bench/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { bench, describe } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import { createPrefilter } from '../core/prefilter.ts'
import { TextScanner } from '../core/text-scanner.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'

const MB = 1024 * 1024
const location = { sourceType: 'file_final' as const, path: 'src/file.js', key: '' }

/** Real source code: the TypeScript compiler's JavaScript, cut into 64 KB "files". */
const sourceFiles = (() => {
  const dir = 'node_modules/typescript/lib'
  const files: Uint8Array[] = []
  let total = 0
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.js')).sort()) {
    const bytes = readFileSync(join(dir, name))
    for (let offset = 0; offset < bytes.length && total < 32 * MB; offset += 64 * 1024) {
      const piece = bytes.subarray(offset, Math.min(bytes.length, offset + 64 * 1024))
      files.push(piece)
      total += piece.length
    }
  }
  return { files, total }
})()

/** Config files where every few lines hold a secret or something that looks like one. */
const denseFiles = (() => {
  const files: Uint8Array[] = []
  let total = 0
  while (total < 8 * MB) {
    const { id, secret } = fakeAwsKeyPair()
    const text = [
      `# service ${files.length}`,
      `AWS_ACCESS_KEY_ID=${id}`,
      `AWS_SECRET_ACCESS_KEY=${secret}`,
      `GITHUB_TOKEN=${fakeGitHubToken()}`,
      'DATABASE_URL=postgres://app:s3cr3t-pa55word@db.internal:5432/app',
      'password = ${DB_PASSWORD}',
      'token_type: bearer',
      'api_key: "not-a-real-key"',
      'LOG_LEVEL=debug',
      ...Array.from({ length: 20 }, (_, i) => `setting_${i} = value_${i}`),
    ].join('\n')
    const bytes = new TextEncoder().encode(text)
    files.push(bytes)
    total += bytes.length
  }
  return { files, total }
})()

const gzipped = gzipSync(Buffer.concat(sourceFiles.files))
const scanner = new TextScanner(builtinDetectors, createPrefilter(builtinDetectors))
const prefilter = createPrefilter(builtinDetectors)
const size = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`

describe(`source code, ${size(sourceFiles.total)}, ${builtinDetectors.length} detectors`, () => {
  bench(`gunzip ${size(sourceFiles.total)} (baseline)`, () => {
    gunzipSync(gzipped)
  })
  bench(`prefilter only, ${size(sourceFiles.total)}`, () => {
    for (const file of sourceFiles.files) prefilter.scan(file)
  })
  bench(`text scanner, ${size(sourceFiles.total)}`, () => {
    for (const file of sourceFiles.files) scanner.scanBytes(file, location)
  })
})

describe(`dense secrets, ${size(denseFiles.total)}`, () => {
  bench(`text scanner, ${size(denseFiles.total)}`, () => {
    for (const file of denseFiles.files) scanner.scanBytes(file, location)
  })
})
