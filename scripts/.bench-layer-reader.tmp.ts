import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { createHash } from 'node:crypto'
import { extract } from 'tar-stream'
import { openFileStream } from '../plugins/sources/file-stream.ts'
import { makeLayer, readLayerEntries } from '../plugins/sources/layer-reader.ts'

const file = process.argv[2]
const which = process.argv[3]
const digest = process.argv[4]
const size = (await stat(file)).size
const times: number[] = []
let bytes = 0, entries = 0
for (let round = 0; round < Number(process.env.ROUNDS ?? 5); round++) {
bytes = 0; entries = 0
const t0 = performance.now()
if (which === 'gunzip') {
  await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), createGunzip({ chunkSize: 64 * 1024 }), new Writable({ write(c, _e, cb) { bytes += c.length; cb() } }))
} else if (which === 'plain-node') {
  // the DESIGN.md baseline: zlib gunzip -> tar-stream -> Buffer per file
  const ex = extract()
  const done = (async () => { for await (const entry of ex) { entries++; const chunks = []; for await (const c of entry) { chunks.push(c); bytes += c.length } ; Buffer.concat(chunks) } })()
  await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), createGunzip(), ex)
  await done
} else if (which === 'hash') {
  const h = createHash('sha256'); for await (const c of createReadStream(file, { highWaterMark: 256 * 1024 })) h.update(c)
} else {
  const layer = makeLayer({ digest, mediaType: '', size }, 0, () => openFileStream(file))
  for await (const entry of layer.entries(which === 'progress' ? { onProgress: () => {} } : {})) {
    entries++
    if (which !== 'skip') for await (const c of entry.body) bytes += c.byteLength
  }
}
times.push(performance.now() - t0)
}
console.log(which, file.split('/').pop(), `min ${Math.min(...times).toFixed(0)} ms, median ${times.sort((a, b) => a - b)[times.length >> 1].toFixed(0)} ms`, entries, 'entries', bytes, 'bytes')
