/**
 * Clean-layer records as a scan would hand them to the layer cache, for its tests and benchmarks.
 */
import type { CleanLayerRecord } from '../../core/contracts.ts'

/** A small layer's changeset, with paths that need quoting in every encoding along the way. */
export const smallRecord = (digest: string): CleanLayerRecord => ({
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
export const bigRecord = (digest: string, paths: number): CleanLayerRecord => ({
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
