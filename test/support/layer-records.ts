/**
 * Layer records as a scan would hand them to the layer cache, for its tests and benchmarks.
 */
import { createHash } from 'node:crypto'
import type { LayerRecord } from '../../core/contracts.ts'

/** A small layer's changeset, with paths that need quoting in every encoding along the way. */
export const smallRecord = (digest: string): LayerRecord => ({
  digest,
  files: 4,
  bytes: 12_345,
  entries: [
    ['etc', true],
    ['etc/app', true],
    ['etc/app/config "prod", {eu}.yaml', false],
    ['opt/tool\\bin\\run.cmd', false],
    ['srv/données/日本語.txt', false],
    ['srv/line\nbreak and\ttab', false],
    ['usr/lib/libc.so', false],
  ],
  whiteouts: ['var/cache/apt/archives/lock', 'tmp/build "artifacts"'],
  opaqueDirectories: ['var/lib/apt/lists'],
})

/** A layer the size of a language runtime: `paths` entries, one in eight a directory, realistic path lengths. */
export const bigRecord = (digest: string, paths: number): LayerRecord => ({
  digest,
  files: paths - Math.ceil(paths / 8),
  bytes: paths * 14_000,
  entries: Array.from({ length: paths }, (_, i) =>
    i % 8 === 0
      ? [`usr/lib/python3.12/site-packages/package_${Math.floor(i / 8)}`, true]
      : [`usr/lib/python3.12/site-packages/package_${Math.floor(i / 8)}/module_${i % 8}/implementation_${i}.py`, false],
  ),
  whiteouts: Array.from({ length: 200 }, (_, i) => `usr/share/doc/old-package-${i}/changelog.gz`),
  opaqueDirectories: ['usr/lib/python3.12/site-packages/__pycache__'],
})

/**
 * A layer with matches as a scan remembers it: no value anywhere, the verdicts for both places a
 * file can stand, text that needs quoting in every encoding along the way, an archive member whose
 * entry path differs from its path.
 */
export const matchedRecord = (digest: string, fingerprintSeed = digest): LayerRecord => {
  const fingerprint = (n: number) => createHash('sha256').update(`${fingerprintSeed}/${n}`).digest('hex')
  return {
    ...smallRecord(digest),
    matches: [
      {
        detectorId: 'github-pat',
        confidence: 'high',
        key: 'GITHUB_TOKEN',
        path: 'etc/app/config "prod", {eu}.yaml',
        entryPath: 'etc/app/config "prod", {eu}.yaml',
        lineNumber: 3,
        start: 120,
        end: 160,
        fingerprint: fingerprint(1),
        redactedValue: 'ghp********',
        contextSnippet: 'GITHUB_TOKEN: "ghp********" # données\ttab \\ backslash',
        verdicts: { file_final: { disposition: 'actionable', reason: '' }, file_deleted_layer: { disposition: 'actionable', reason: '' } },
      },
      {
        detectorId: 'generic-credential',
        confidence: 'low',
        key: 'password',
        path: 'srv/app.jar!BOOT-INF/classes/application.yml',
        entryPath: 'srv/app.jar',
        lineNumber: 12,
        start: 40,
        end: 52,
        fingerprint: fingerprint(2),
        redactedValue: '********',
        contextSnippet: 'password: ******** …',
        verdicts: { file_final: { disposition: 'suppressed', reason: 'test or example path (test/)' }, file_deleted_layer: { disposition: 'suppressed', reason: 'deleted "later"' } },
      },
    ],
  }
}
