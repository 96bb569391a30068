/**
 * The whole pipeline on a fixture image (real files from node_modules, two gzip layers) against
 * plain gunzip of the same layer blobs, measured in the same run. Target: the pipeline within
 * 1.5x of gunzip. Figures: bench/README.md.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { bench, describe } from 'vitest'
import { scanReference } from '../core/scan.ts'
import { builtinDetectors } from '../plugins/detectors/catalog.ts'
import { fixturesFilter } from '../plugins/filters/fixtures.ts'
import { buildImage, type FileSpec } from '../plugins/sources/image-builder.ts'
import { ociLayoutSource } from '../plugins/sources/oci-layout.ts'
import { writeOciLayout } from '../plugins/sources/oci-layout-writer.ts'

const MB = 1024 * 1024

/** Files under `dir`, in a stable order, until `budget` bytes. */
const collect = (dir: string, budget: number, prefix: string): FileSpec[] => {
  const files: FileSpec[] = []
  let total = 0
  const walk = (path: string) => {
    for (const name of readdirSync(path).sort()) {
      if (total >= budget) return
      const full = join(path, name)
      const info = statSync(full)
      if (info.isDirectory()) walk(full)
      else if (info.isFile()) {
        files.push({ path: `${prefix}/${full}`, content: readFileSync(full) })
        total += info.size
      }
    }
  }
  walk(dir)
  return files
}

const image = await buildImage({
  layers: [
    { files: collect('node_modules/typescript', 40 * MB, 'usr/lib') },
    { files: [...collect('node_modules/@electric-sql', 20 * MB, 'app'), ...collect('node_modules/hono', 10 * MB, 'app')] },
  ],
})
const dir = mkdtempSync(join(tmpdir(), 'layerleak-bench-'))
await writeOciLayout(dir, image, { tag: 'bench' })
const uncompressed = image.layers.reduce((sum, layer) => sum + layer.tar.byteLength, 0)
const compressed = image.layers.reduce((sum, layer) => sum + layer.size, 0)
const label = `${(uncompressed / MB).toFixed(0)} MB in 2 layers (${(compressed / MB).toFixed(0)} MB gzip)`

describe(`fixture image: ${label}`, () => {
  bench('gunzip the layers (baseline)', () => {
    for (const layer of image.layers) gunzipSync(layer.bytes)
  }, { iterations: 5, time: 0 })
  bench('layerleak scan (whole pipeline)', async () => {
    await scanReference({ reference: `oci:${dir}:bench`, sources: [ociLayoutSource()], detectors: builtinDetectors, filters: [fixturesFilter()] })
  }, { iterations: 5, time: 0 })
})
