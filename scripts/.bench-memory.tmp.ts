import { stat } from 'node:fs/promises'
import { openFileStream } from '../plugins/sources/file-stream.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'
const [file, digest, mode] = process.argv.slice(2)
const size = (await stat(file)).size
let peak = 0
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
const t0 = performance.now()
let bytes = 0
const layer = makeLayer({ digest, mediaType: '', size }, 0, () => openFileStream(file))
for await (const entry of layer.entries()) {
  if (mode === 'skip') continue
  for await (const chunk of entry.body) {
    bytes += chunk.byteLength
    peak = Math.max(peak, process.memoryUsage().rss)
    if (mode === 'slow' && Math.random() < 0.01) await new Promise((r) => setTimeout(r, 1))
  }
}
clearInterval(timer)
console.log(file.split('/').pop(), mode, `${(performance.now() - t0).toFixed(0)} ms`, bytes, `peak rss ${(peak / 1048576).toFixed(0)} MiB`)
