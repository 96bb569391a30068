/**
 * A one-line progress display on stderr for scans and downloads: bytes per layer in flight, layers
 * done. Only on a terminal; pipes and CI logs get nothing but the logger's lines.
 */
import type { ScanEvent } from '../core/events.ts'
import { humanSize, shortDigest } from './format.ts'

export interface ProgressDisplay {
  onEvent(event: ScanEvent): void
  done(): void
}

export const createProgress = (stream: NodeJS.WriteStream = process.stderr, enabled = stream.isTTY === true): ProgressDisplay => {
  if (!enabled) return { onEvent() {}, done() {} }
  const inFlight = new Map<string, { bytes: number; size: number }>()
  let layersDone = 0
  let layersTotal = 0
  let lastDraw = 0
  const draw = (force = false) => {
    const now = Date.now()
    if (!force && now - lastDraw < 100) return
    lastDraw = now
    const parts = [...inFlight.entries()].map(([digest, { bytes, size }]) => `${shortDigest(digest).slice(0, 8)} ${humanSize(bytes)}/${humanSize(size)}`)
    const line = `layers ${layersDone}/${layersTotal}${parts.length ? `  ${parts.join('  ')}` : ''}`
    stream.write(`\r\u001b[K${line.slice(0, (stream.columns || 100) - 1)}`)
  }
  return {
    onEvent(event) {
      if (event.type === 'target') layersTotal += event.layers
      else if (event.type === 'layer-start') inFlight.set(event.digest, { bytes: 0, size: event.size })
      else if (event.type === 'layer-progress') inFlight.set(event.digest, { bytes: event.bytes, size: event.size })
      else if (event.type === 'layer-done') {
        inFlight.delete(event.digest)
        layersDone++
      } else return
      draw(event.type !== 'layer-progress')
    },
    done() {
      stream.write('\r\u001b[K')
    },
  }
}
