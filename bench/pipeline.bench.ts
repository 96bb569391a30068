/**
 * The whole pipeline on fixture images against plain gunzip of the same layer blobs, measured in
 * the same run. Target: the pipeline within 1.5x of gunzip. Two images:
 * - a typical one, built from this machine's own files: /etc and /usr/bin (ELF binaries) as the
 *   OS layer, the Python standard library as the runtime layer, an npm package as the app layer;
 * - a source-heavy one: the TypeScript compiler and PGlite (JavaScript bundles of megabytes, which
 *   say `token` and `password` on every page), the worst case for keyword windows.
 * Each runs without and with one scan worker thread. Figures: bench/README.md.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, bench, describe } from 'vitest'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { type BuiltImage, buildImage, type FileSpec } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'
import { fileScanPool } from '../plugins/workers/file-scan-pool.ts'

const MB = 1024 * 1024

/** Regular files under `dir` (readable, smaller than `largest`), in a stable order, until `budget` bytes. */
const collect = (dir: string, budget: number, prefix = '', largest = 8 * MB): FileSpec[] => {
  const files: FileSpec[] = []
  let total = 0
  const walk = (path: string) => {
    let names: string[]
    try {
      names = readdirSync(path).sort()
    } catch {
      return
    }
    for (const name of names) {
      if (total >= budget) return
      const full = join(path, name)
      const info = lstatSync(full)
      if (info.isDirectory()) walk(full)
      else if (info.isFile() && info.size < largest) {
        try {
          files.push({ path: `${prefix}${full}`.replace(/^\//, ''), content: readFileSync(full) })
          total += info.size
        } catch {
          // unreadable: not part of the fixture
        }
      }
    }
  }
  walk(dir)
  return files
}

const python = readdirSync('/usr/lib').filter((name) => /^python3\.\d+$/.test(name)).sort().at(-1) ?? 'python3'
const images: [string, BuiltImage][] = [
  [
    'typical image (OS binaries, Python stdlib, npm app)',
    await buildImage({
      layers: [
        { files: [...collect('/etc', 4 * MB), ...collect('/usr/bin', 40 * MB)] },
        { files: collect(`/usr/lib/${python}`, 20 * MB) },
        { files: collect('node_modules/hono', 10 * MB, 'app/') },
      ],
    }),
  ],
  [
    'source-heavy image (TypeScript, PGlite)',
    await buildImage({
      layers: [
        { files: collect('node_modules/typescript', 40 * MB, 'usr/lib/', Infinity) },
        { files: [...collect('node_modules/@electric-sql', 20 * MB, 'app/', Infinity), ...collect('node_modules/hono', 10 * MB, 'app/')] },
      ],
    }),
  ],
]

const pool = fileScanPool({ detectors: builtinDetectors, workers: 1 })
afterAll(() => pool?.close())

for (const [name, image] of images) {
  const dir = mkdtempSync(join(tmpdir(), 'layerleak-bench-'))
  await writeOciLayout(dir, image, { tag: 'bench' })
  const uncompressed = image.layers.reduce((sum, layer) => sum + layer.tar.byteLength, 0)
  const compressed = image.layers.reduce((sum, layer) => sum + layer.size, 0)
  const scan = (withPool: boolean) =>
    scanReference({ reference: `oci:${dir}:bench`, sources: [ociLayoutSource()], detectors: builtinDetectors, filters: [fixturesFilter()], ...(withPool && pool ? { fileScanPool: pool } : {}) })

  describe(`${name}: ${(uncompressed / MB).toFixed(0)} MB in ${image.layers.length} layers (${(compressed / MB).toFixed(0)} MB gzip)`, () => {
    bench('gunzip the layers (baseline)', () => {
      for (const layer of image.layers) gunzipSync(layer.bytes)
    }, { iterations: 7, time: 0 })
    bench('layerleak scan (whole pipeline)', async () => {
      await scan(false)
    }, { iterations: 7, time: 0 })
    bench('layerleak scan, one worker thread', async () => {
      await scan(true)
    }, { iterations: 7, time: 0 })
  })
}
