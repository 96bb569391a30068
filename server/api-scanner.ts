/**
 * What a scan request may do, and the scan itself. Over the API only registries are scanned: a
 * local source (`oci:`, `docker-archive:`…) would read the server's own disk. The reference's
 * registry host is checked by the SSRF guard before anything runs, so a refused host is a quick
 * 403 rather than a failed scan; the guarded fetch inside the registry source still checks every
 * request and redirect during the scan.
 */
import type { FileScanPool, LayerCache } from '../core/contracts.ts'
import type { LayerScanOutcome } from '../core/layer-scanner.ts'
import type { Detector, Filter, Source } from '../core/contracts.ts'
import { LayerleakError } from '../core/errors.ts'
import type { ScanEvent } from '../core/events.ts'
import type { Limits } from '../core/limits.ts'
import type { ArchiveLimits, ArchiveReader } from '../core/nested-archives.ts'
import type { ScanResult } from '../core/result.ts'
import { type ScanOptions, scanReference } from '../core/scan.ts'
import { apiBase, type ApiBaseOptions, parseImageReference } from '../plugins/sources/image-reference.ts'
import { sweepReference } from '../plugins/sources/repository-sweep.ts'
import type { ScanRequest } from './schemas.ts'
import type { SsrfGuard } from './ssrf-guard.ts'

/** transports of sources that read local files or daemons (containers/image names them so) */
const LOCAL_TRANSPORT = /^(oci|oci-archive|docker-archive|docker-daemon|containers-storage|dir|file|tarball|ostree|sif):/i
const DOCKER_TRANSPORT = /^docker:\/\//

/** The repository a sweep names, its refusal worded for the API's field rather than the CLI's flag. */
const sweepOf = (reference: string) => {
  try {
    return sweepReference(reference)
  } catch (error) {
    if (error instanceof LayerleakError && error.code === 'INVALID_ARGUMENT') throw new LayerleakError('INVALID_ARGUMENT', error.message.replace('--all-tags', 'all_tags'))
    throw error
  }
}

export interface ApiScannerOptions {
  /** the registry source, built on a fetch wrapped by the guard */
  registry: Source
  guard: SsrfGuard
  detectors: Detector[]
  filters: Filter[]
  limits: Limits
  /** how the registry source picks its API base: the host the pre-check looks at */
  apiBase?: ApiBaseOptions
  persistRawSecrets?: boolean
  fingerprintKey?: string
  scanner: { name: string; version: string }
  detectorCatalogVersion: string
  /** readers for archives inside layers, and their bounds (as the CLI scans) */
  archiveReaders?: ArchiveReader[]
  archiveLimits?: Partial<ArchiveLimits>
  /** worker threads for file scanning (plugins/workers/file-scan-pool.ts), built for `detectors` */
  fileScanPool?: FileScanPool
  /** layers remembered in the database (clean ones, and those with matches, redacted): not downloaded again by later scans */
  layerRecords?: LayerCache
  /** layer outcomes shared by the scans of this process (base layers are read once) */
  layerCache?: Map<string, Promise<LayerScanOutcome>>
}

export interface ApiScanner {
  /** Throws (400, 403) when the request must not run. */
  admit(request: ScanRequest): Promise<void>
  scan(request: ScanRequest, options: { signal: AbortSignal; onEvent?: (event: ScanEvent) => void }): Promise<ScanResult>
}

export const createApiScanner = (options: ApiScannerOptions): ApiScanner => ({
  async admit(request) {
    const reference = request.reference.trim()
    if (LOCAL_TRANSPORT.test(reference) || /^[./~]/.test(reference)) {
      throw new LayerleakError('INVALID_REFERENCE', `"${reference}" names a local source: the API scans registry images only (oci:, docker-archive: and other local sources work from the CLI)`)
    }
    const plain = reference.replace(DOCKER_TRANSPORT, '')
    // a sweep names a whole repository: a tag or digest would be ignored, so it is refused
    const parsed = request.all_tags ? sweepOf(plain) : parseImageReference(plain)
    if (!options.registry.accepts(reference)) throw new LayerleakError('INVALID_REFERENCE', `"${reference}" is not a registry image reference`)
    await options.guard.check(new URL(apiBase(parsed.registry, options.apiBase)))
  },

  scan(request, { signal, onEvent }) {
    const scanOptions: ScanOptions = {
      reference: request.reference.trim(),
      sources: [options.registry],
      detectors: options.detectors,
      filters: options.filters,
      limits: options.limits,
      ...(request.platform ? { platform: request.platform } : {}),
      ...(request.all_tags ? { allTags: true } : {}),
      ...(options.archiveReaders ? { archiveReaders: options.archiveReaders } : {}),
      ...(options.archiveLimits ? { archiveLimits: options.archiveLimits } : {}),
      ...(options.fileScanPool ? { fileScanPool: options.fileScanPool } : {}),
      ...(options.layerRecords ? { layerRecords: options.layerRecords } : {}),
      ...(options.layerCache ? { layerCache: options.layerCache } : {}),
      persistRawSecrets: options.persistRawSecrets ?? false,
      ...(options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}),
      scanner: options.scanner,
      detectorCatalogVersion: options.detectorCatalogVersion,
      signal,
      ...(onEvent ? { onEvent } : {}),
    }
    return scanReference(scanOptions)
  },
})
