import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { beforeAll, describe, expect, it } from 'vitest'
import { catFromImage } from '../cli/cat.ts'
import type { Writer } from '../cli/explorer-io.ts'
import { printLayerListings } from '../cli/peek.ts'
import { defaultLimits } from '../core/limits.ts'
import { resolveTarget } from '../cli/explorer-target.ts'
import { defaultPattern, type GeneratedFile, type GeneratedImage, generatedContent, generatedImageSource } from './support/generated-layer-source.ts'

const MiB = 1024 * 1024
const files: GeneratedFile[] = [
  { path: 'etc/first.txt', size: 100 },
  { path: 'data/big-1.bin', size: 100 * MiB },
  { path: 'data/big-2.bin', size: 100 * MiB },
  { path: 'data/big-3.bin', size: 100 * MiB },
  { path: 'etc/last.txt', size: 200 },
]

// a collection before each measurement, so garbage not yet collected is not mistaken for held bytes
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

/**
 * Memory the process holds (JS heap + array buffers, where layer bytes would sit, after a
 * collection), measured while the command hands over output and at the end. A timer would never
 * fire (the stream runs on microtasks), and RSS keeps pages that earlier passes freed.
 */
const memoryProbe = () => {
  const held = () => {
    // twice: array buffers freed by one collection are swept by the next
    collectGarbage()
    collectGarbage()
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  }
  const baseline = held()
  let peak = baseline
  let sinceLast = 0
  return {
    /** measures every 16 MiB of output (and on every call when `bytes` is not given) */
    sample: (bytes?: number) => {
      sinceLast += bytes ?? Number.POSITIVE_INFINITY
      if (sinceLast < 16 * MiB) return
      sinceLast = 0
      peak = Math.max(peak, held())
    },
    growth: () => Math.max(peak, held()) - baseline,
  }
}

let image: GeneratedImage
const layersOf = async () => (await resolveTarget(image.reference, { sources: [image.source], limits: defaultLimits })).layers()

beforeAll(() => {
  image = generatedImageSource(files)
})

describe('a ~300 MB layer', () => {
  it('is listed by peek as it streams: the first entry is out long before the layer is', async () => {
    const layers = await layersOf()
    const start = image.generatedBytes()
    const lines: string[] = []
    let pulledAtFirstLine = -1
    const memory = memoryProbe()
    const write: Writer = async (chunk) => {
      memory.sample()
      const text = String(chunk)
      if (pulledAtFirstLine < 0 && text.includes('etc/first.txt')) pulledAtFirstLine = image.generatedBytes() - start
      lines.push(text)
    }
    await printLayerListings(layers, [], write, 'text')
    const growth = memory.growth()
    expect(image.layerSize).toBeGreaterThan(300 * MiB)
    expect(pulledAtFirstLine).toBeGreaterThan(0)
    expect(pulledAtFirstLine).toBeLessThan(4 * MiB)
    expect(image.generatedBytes() - start).toBe(image.layerSize)
    expect(lines.join('')).toMatch(/data\/big-3\.bin[\s\S]*etc\/last\.txt/)
    expect(growth).toBeLessThan(16 * MiB)
  })

  it('gives cat the file at its far end without holding the layer in memory', async () => {
    const layers = await layersOf()
    const chunks: Uint8Array[] = []
    const memory = memoryProbe()
    await catFromImage(layers, '/etc/last.txt', async (chunk) => {
      memory.sample()
      chunks.push(chunk as Uint8Array)
    })
    const growth = memory.growth()
    expect(Buffer.concat(chunks).equals(generatedContent(files[4]))).toBe(true)
    expect(growth).toBeLessThan(16 * MiB)
  })

  it('streams a 100 MB file through cat, byte for byte, and stops reading after it', async () => {
    const layers = await layersOf()
    const start = image.generatedBytes()
    const hash = createHash('sha256')
    let bytes = 0
    const memory = memoryProbe()
    await catFromImage(layers, '/data/big-2.bin', async (chunk) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      memory.sample(data.byteLength)
      hash.update(data)
      bytes += data.byteLength
    })
    const growth = memory.growth()
    const expected = createHash('sha256')
    const pattern = defaultPattern()
    for (let offset = 0; offset < files[2].size; offset += pattern.length) expected.update(pattern.subarray(0, Math.min(pattern.length, files[2].size - offset)))
    expect(bytes).toBe(100 * MiB)
    expect(hash.digest('hex')).toBe(expected.digest('hex'))
    // big-3 and what follows were never generated
    expect(image.generatedBytes() - start).toBeLessThan(image.layerSize - 90 * MiB)
    expect(growth).toBeLessThan(16 * MiB)
  })
})
