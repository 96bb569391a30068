/**
 * One scan, end to end: resolve the reference through a source, stream every layer of every
 * platform through the detectors (several layers at once), replay whiteouts to tell what is still
 * in the final image, scan the config, let filters decide dispositions, and merge matches into
 * findings. Sources, detectors and filters are plugins; everything between them lives here.
 */
import { buildStepsForLayers } from './build-steps.ts'
import { mapConcurrent } from './concurrency.ts'
import { scanImageConfig } from './config-scanner.ts'
import type { Detector, FileScanPool, Filter, LayerCache, Layer, LayerRecord, Source, Target } from './contracts.ts'
import { LayerleakError, toLayerleakError } from './errors.ts'
import type { ScanEvent } from './events.ts'
import { LayerChanges, presentInFinalImage } from './filesystem-index.ts'
import { type AssembleOptions, assembleFindings, classifyMatch, type DraftMatch, isRememberedMatch, type OccurrenceDraft } from './findings.ts'
import { shortDigest } from './digest.ts'
import { scanLayer, type LayerScanOutcome } from './layer-scanner.ts'
import { type ArchiveLimits, type ArchiveReader, defaultArchiveLimits } from './nested-archives.ts'
import { defaultLimits, exceeds, type Limits } from './limits.ts'
import { formatPlatform } from './platform.ts'
import { createPrefilter } from './prefilter.ts'
import { filterSignatureOf, isRememberable, layerRecordOf, outcomeOfRecord, type RememberedOutcome } from './remembered-layers.ts'
import {
  type Coverage,
  type Diagnostic,
  type PlatformResult,
  RESULT_SCHEMA_VERSION,
  type ScanResult,
  type ScanStatus,
  type TagResult,
  type TargetResult,
} from './result.ts'
import { TextScanner } from './text-scanner.ts'

export interface ScanOptions {
  reference: string
  sources: Source[]
  detectors: Detector[]
  filters?: Filter[]
  limits?: Partial<Limits>
  /** `os/arch[/variant]` */
  platform?: string
  /**
   * Sweep the repository `reference` names: every tag, each digest scanned once (one layer cache
   * for the whole sweep), `mode: 'repository'` and one `tag_results` entry per tag.
   */
  allTags?: boolean
  persistRawSecrets?: boolean
  /** HMAC key for fingerprints (LAYERLEAK_FINGERPRINT_KEY) */
  fingerprintKey?: string
  /** layers read at once (default 3) */
  layerConcurrency?: number
  /**
   * Layer outcomes shared across scans (a sweep, a server): a digest already scanned is not
   * downloaded again. Keyed by layer digest.
   */
  layerCache?: Map<string, Promise<LayerScanOutcome>>
  /**
   * Layers remembered across runs (a database): a layer scanned before with the same detector
   * catalog is not downloaded again; its changeset still counts. A clean layer always; a layer with
   * matches when every filter has a cacheKey and raw values are not wanted: its matches come back
   * redacted, fingerprinted and judged as they were then, and are re-attached to this manifest.
   */
  layerRecords?: LayerCache
  /** readers for archives inside layers (zip, tar, gzip, zstd...); none: archives are scanned as bytes */
  archiveReaders?: ArchiveReader[]
  /** bounds on opening those archives (defaults: 64 MiB, 10,000 members, depth 3) */
  archiveLimits?: Partial<ArchiveLimits>
  /**
   * Worker threads that scan whole files while layers are read (plugins/workers/file-scan-pool.ts),
   * built for these same `detectors`. Without one, files are scanned on the calling thread.
   */
  fileScanPool?: FileScanPool
  signal?: AbortSignal
  onEvent?: (event: ScanEvent) => void
  scanner?: { name: string; version: string }
  detectorCatalogVersion?: string
  now?: () => Date
}




/**
 * A source that stops at a cap reports `limit_exceeded` with a message that starts with the limit's
 * name (`max_repository_tags (100) reached: ...`): the pipeline owns `limits_hit`, so it reads it here.
 */
const limitNameOf = (message: string): string | undefined => /^(max_[a-z_]+)\b/.exec(message)?.[1]

const byTag = (a: TagResult, b: TagResult): number => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0)

/**
 * Compiling the keyword automaton of 400 detectors takes ~20 ms: a server or a namespace sweep
 * scanning many images with the same detector list compiles it once.
 */
const scanners = new WeakMap<readonly Detector[], TextScanner>()
const scannerFor = (detectors: readonly Detector[]): TextScanner => {
  let scanner = scanners.get(detectors)
  if (!scanner) scanners.set(detectors, (scanner = new TextScanner(detectors, createPrefilter(detectors))))
  return scanner
}

export const scanReference = async (options: ScanOptions): Promise<ScanResult> => {
  const now = options.now ?? (() => new Date())
  const started = now()
  const limits: Limits = { ...defaultLimits, ...options.limits }
  const filters = options.filters ?? []
  const scanner = scannerFor(options.detectors)
  const layerCache = options.layerCache ?? new Map<string, Promise<LayerScanOutcome>>()
  const archives = options.archiveReaders?.length ? { readers: options.archiveReaders, limits: { ...defaultArchiveLimits, ...options.archiveLimits } } : undefined
  /** a layer shared by several platforms reports what it found inside its files once */
  const fileDiagnosticsSeen = new Set<string>()
  const emit = options.onEvent ?? (() => {})
  const sweep = options.allTags === true
  const diagnostics: Diagnostic[] = []
  const report = (diagnostic: Diagnostic) => {
    diagnostics.push(diagnostic)
    if (diagnostic.code === 'limit_exceeded') {
      const name = limitNameOf(diagnostic.message)
      if (name) limitHit(name)
    }
    emit({ type: 'diagnostic', diagnostic })
  }
  const coverage: Coverage = {
    layers_total: 0,
    layers_scanned: 0,
    layers_failed: 0,
    layers_cached: 0,
    files_scanned: 0,
    files_skipped: 0,
    bytes_scanned: 0,
    limits_hit: [],
  }
  const limitHit = (name: string) => {
    if (!coverage.limits_hit.includes(name)) coverage.limits_hit.push(name)
  }
  const drafts: OccurrenceDraft[] = []
  const targets = new Map<string, TargetResult>()
  let repository = ''
  let registry = ''
  let resolvedReference = options.reference
  let failedWhole: LayerleakError | undefined

  const source = options.sources.find((candidate) => candidate.accepts(options.reference))
  if (!source) throw new LayerleakError('INVALID_REFERENCE', `no source accepts "${options.reference}"`)

  // what decides what a layer holds: the detectors, and whether (and how deep) archives are opened
  const catalogVersion = options.detectorCatalogVersion
    ? `${options.detectorCatalogVersion}${archives ? `+${archives.readers.map((reader) => reader.format).join(',')}:${archives.limits.maxArchiveBytes}:${archives.limits.maxArchiveEntries}:${archives.limits.maxArchiveDepth}` : ''}`
    : ''
  // what the remembered verdicts and fingerprints of a layer's matches hold for; none: only clean layers are remembered
  const filterSignature = filterSignatureOf({
    filters,
    persistRawSecrets: options.persistRawSecrets ?? false,
    ...(options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}),
    scannerVersion: options.scanner?.version ?? '',
  })
  const newlyRemembered: LayerRecord[] = []
  /**
   * Layers the cache gave back with their matches: this scan's alone, never in the shared
   * `layerCache`, since their verdicts hold for this scan's filters only.
   */
  const reattached = new Map<string, RememberedOutcome>()
  /** a cache that cannot be read costs a download, never the scan */
  const rememberedLayers = async (digests: string[]): Promise<Map<string, LayerRecord>> => {
    if (!options.layerRecords || !catalogVersion || digests.length === 0) return new Map()
    try {
      return await options.layerRecords.get(digests, catalogVersion, filterSignature)
    } catch (error) {
      report({ code: 'layer_cache_unavailable', scope: 'scan', subject: 'layer cache', message: toLayerleakError(error).message })
      return new Map()
    }
  }

  const scanTarget = async (target: Target): Promise<void> => {
    const platform = formatPlatform(target.platform)
    const targetResult = targets.get(target.resolvedDigest) ?? {
      reference: target.reference,
      digest: target.resolvedDigest,
      media_type: target.resolvedMediaType,
      tags: target.tags,
      status: 'completed' as ScanStatus,
      platform_results: [],
    }
    targets.set(target.resolvedDigest, targetResult)
    const platformResult: PlatformResult = {
      platform,
      manifest_digest: target.manifest.digest,
      config_digest: '',
      status: 'completed',
      layer_count: 0,
      layers_scanned: 0,
      files_scanned: 0,
      bytes_scanned: 0,
      findings: 0,
      suppressed_findings: 0,
    }
    targetResult.platform_results.push(platformResult)

    let config
    let layers: Layer[]
    try {
      config = await target.config()
      layers = await target.layers()
    } catch (error) {
      const failure = toLayerleakError(error)
      platformResult.status = 'failed'
      platformResult.error = failure.message
      report({ code: 'target_failed', scope: 'target', subject: target.manifest.digest, message: failure.message })
      return
    }
    platformResult.config_digest = config.digest
    platformResult.layer_count = layers.length
    coverage.layers_total += layers.length
    emit({ type: 'target', reference: target.reference, platform, manifestDigest: target.manifest.digest, layers: layers.length })

    const layerCount = Math.max(layers.length, ...layers.map((layer) => layer.index + 1))
    const buildSteps = buildStepsForLayers(config.history, layerCount)
    const remembered = await rememberedLayers(layers.map((layer) => layer.digest).filter((digest) => !layerCache.has(digest) && !reattached.has(digest)))
    const outcomes = await mapConcurrent(layers, options.layerConcurrency ?? 3, async (layer): Promise<{ outcome: LayerScanOutcome | RememberedOutcome; cached: boolean }> => {
      const record = remembered.get(layer.digest)
      if (record && !layerCache.has(layer.digest) && !reattached.has(layer.digest)) {
        // (matches given back without a signature asked for would be judged by other filters: read again)
        if (!record.matches?.length) layerCache.set(layer.digest, Promise.resolve({ ...outcomeOfRecord(record), matches: [] }))
        else if (filterSignature) reattached.set(layer.digest, outcomeOfRecord(record))
      }
      const again = reattached.get(layer.digest)
      if (again) {
        emit({ type: 'layer-done', digest: layer.digest, files: again.files, bytes: again.bytes, matches: again.matches.length, cached: true })
        return { outcome: again, cached: true }
      }
      const cached = layerCache.get(layer.digest)
      const pending =
        cached ??
        (async () => {
          emit({ type: 'layer-start', digest: layer.digest, index: layer.index, size: layer.size })
          const outcome = await scanLayer(layer, {
            scanner,
            limits,
            ...(archives ? { archives } : {}),
            ...(options.fileScanPool ? { pool: options.fileScanPool } : {}),
            signal: options.signal,
            onProgress: (bytes) => emit({ type: 'layer-progress', digest: layer.digest, bytes, size: layer.size }),
          })
          emit({
            type: 'layer-done',
            digest: layer.digest,
            files: outcome.files,
            bytes: outcome.bytes,
            matches: outcome.matches.length,
            cached: false,
            ...(outcome.error ? { error: outcome.error.message } : {}),
          })
          if (options.layerRecords && catalogVersion && isRememberable(outcome) && (outcome.matches.length === 0 || filterSignature)) {
            newlyRemembered.push(layerRecordOf(outcome, filters, options.fingerprintKey))
          }
          return outcome
        })()
      if (!cached) layerCache.set(layer.digest, pending)
      const outcome = await pending
      if (cached) emit({ type: 'layer-done', digest: layer.digest, files: outcome.files, bytes: outcome.bytes, matches: outcome.matches.length, cached: true })
      return { outcome, cached: cached !== undefined }
    })

    // the whiteout replay needs every layer's changes in manifest order (foreign layers: none known)
    const changes = Array.from({ length: layerCount }, () => new LayerChanges())
    outcomes.forEach(({ outcome }, i) => {
      changes[layers[i].index] = outcome.changes
    })
    outcomes.forEach(({ outcome, cached }, i) => {
      const layer = layers[i]
      if (outcome.error || outcome.limitHit) {
        platformResult.status = 'partial'
        if (outcome.limitHit) {
          limitHit(outcome.limitHit)
          report({ code: 'limit_exceeded', scope: 'layer', subject: layer.digest, message: `${outcome.limitHit} reached in layer ${layer.index}: the rest of the layer was not scanned` })
        }
        if (outcome.error) {
          if (!cached) coverage.layers_failed++
          report({ code: outcome.error.code === 'DIGEST_MISMATCH' ? 'digest_mismatch' : 'layer_failed', scope: 'layer', subject: layer.digest, message: outcome.error.message })
        }
      }
      for (const diagnostic of outcome.diagnostics ?? []) {
        const id = `${layer.digest}\u0000${diagnostic.code}\u0000${diagnostic.subject}\u0000${diagnostic.message}`
        if (!fileDiagnosticsSeen.has(id)) report(diagnostic)
        fileDiagnosticsSeen.add(id)
      }
      if (!outcome.error) platformResult.layers_scanned++
      // a layer shared by several platforms or tags is read once: count its bytes once
      if (cached) coverage.layers_cached++
      else {
        if (!outcome.error) coverage.layers_scanned++
        coverage.files_scanned += outcome.files
        coverage.bytes_scanned += outcome.bytes
      }
      platformResult.files_scanned += outcome.files
      platformResult.bytes_scanned += outcome.bytes
      for (const match of outcome.matches) {
        const present = presentInFinalImage(changes, layer.index, match.entryPath)
        addDraft(match, target.manifest.digest, {
          source_type: present ? 'file_final' : 'file_deleted_layer',
          platform,
          file_path: match.path,
          layer_digest: layer.digest,
          layer_index: layer.index,
          build_step: buildSteps[layer.index] ?? '',
          source_location: `layer ${layer.index} (${shortDigest(layer.digest)}) /${match.path}:${match.lineNumber}`,
          present_in_final_image: present,
        })
      }
    })

    for (const match of scanImageConfig(config, scanner)) {
      addDraft(match, target.manifest.digest, {
        source_type: match.sourceType,
        platform,
        file_path: '',
        layer_digest: '',
        layer_index: -1,
        build_step: match.buildStep,
        source_location: `config ${shortDigest(config.digest)} ${match.location}`,
        present_in_final_image: true,
      })
    }
    if (platformResult.status !== 'completed') targetResult.status = 'partial'
  }

  const addDraft = (match: DraftMatch, manifestDigest: string, fields: Omit<OccurrenceDraft['fields'], 'disposition' | 'disposition_reason'>) => {
    // a remembered match was judged when its layer was read, as a file kept and as a file deleted
    // (only files are remembered): this manifest says which it is
    const verdict = isRememberedMatch(match)
      ? match.verdicts[fields.source_type === 'file_final' ? 'file_final' : 'file_deleted_layer']
      : classifyMatch(filters, {
          detectorId: match.detectorId,
          confidence: match.confidence,
          value: match.value,
          sourceType: fields.source_type,
          path: fields.file_path,
          key: match.key,
          line: match.line,
        })
    drafts.push({ match, manifestDigest, fields: { ...fields, disposition: verdict.disposition, disposition_reason: verdict.reason } })
  }

  try {
    const resolving = source.resolve(options.reference, { platform: options.platform, ...(sweep ? { allTags: true } : {}), signal: options.signal, limits, report })
    for await (const target of resolving) {
      // a target is a digest (all its platforms): the cap counts digests, and stops at the first one over
      if (!targets.has(target.resolvedDigest) && exceeds(targets.size + 1, limits.maxRepositoryTargets)) {
        report({ code: 'limit_exceeded', scope: 'target', subject: target.resolvedDigest, message: `max_repository_targets (${limits.maxRepositoryTargets}) reached: ${target.reference} and what follows not scanned` })
        break
      }
      repository ||= target.repository
      registry ||= target.registry
      resolvedReference = target.reference
      await scanTarget(target)
    }
  } catch (error) {
    failedWhole = toLayerleakError(error)
    report({ code: 'resolve_failed', scope: 'scan', subject: options.reference, message: failedWhole.message })
  }

  if (options.layerRecords && catalogVersion && newlyRemembered.length > 0) {
    try {
      await options.layerRecords.put(newlyRemembered, catalogVersion, filterSignature)
    } catch (error) {
      report({ code: 'layer_cache_unavailable', scope: 'scan', subject: 'layer cache', message: toLayerleakError(error).message })
    }
  }

  const assembleOptions: AssembleOptions = {
    persistRawSecrets: options.persistRawSecrets ?? false,
    ...(options.fingerprintKey ? { fingerprintKey: options.fingerprintKey } : {}),
    seenAt: started.toISOString(),
  }
  const all = assembleFindings(drafts, assembleOptions)
  const findings = all.filter((finding) => finding.disposition === 'actionable')
  const suppressed = all.filter((finding) => finding.disposition === 'suppressed')
  const targetResults = [...targets.values()]
  const platformResults = targetResults.flatMap((target) => target.platform_results)
  for (const result of platformResults) {
    result.findings = findings.filter((finding) => finding.manifest_digest === result.manifest_digest).length
    result.suppressed_findings = suppressed.filter((finding) => finding.manifest_digest === result.manifest_digest).length
  }
  let status: ScanStatus = 'completed'
  if (platformResults.length === 0 || platformResults.every((result) => result.status === 'failed')) status = 'failed'
  else if (failedWhole || coverage.limits_hit.length > 0 || platformResults.some((result) => result.status !== 'completed')) status = 'partial'
  for (const target of targetResults) {
    if (target.platform_results.every((result) => result.status === 'failed')) target.status = 'failed'
  }
  const tagResults = sweep ? tagResultsOf(targetResults, diagnostics) : []
  // a sweep is complete only when every tag was listed and scanned
  const listingStopped = diagnostics.some((diagnostic) => diagnostic.code === 'tag_list_failed')
  if (status === 'completed' && (listingStopped || tagResults.some((tag) => tag.status === 'failed'))) status = 'partial'
  // a sweep resolves to the repository itself; its findings file is named after it
  if (sweep) resolvedReference = repository || options.reference
  const finished = now()
  return {
    result_schema_version: RESULT_SCHEMA_VERSION,
    requested_reference: options.reference,
    repository,
    registry,
    mode: sweep ? 'repository' : 'reference',
    resolved_reference: resolvedReference,
    status,
    scanned_at: started.toISOString(),
    finished_at: finished.toISOString(),
    duration_ms: finished.getTime() - started.getTime(),
    scanner: {
      name: options.scanner?.name ?? 'layerleak',
      version: options.scanner?.version ?? '0.0.0',
      detector_catalog_version: options.detectorCatalogVersion ?? '',
    },
    target_count: targetResults.length,
    manifest_count: platformResults.length,
    total_findings: findings.length,
    unique_fingerprints: new Set(findings.map((finding) => finding.fingerprint)).size,
    suppressed_findings_count: suppressed.length,
    targets: targetResults,
    tag_results: tagResults,
    coverage,
    diagnostics,
    findings,
    suppressed_findings: suppressed,
  }
}

/**
 * One entry per tag of a sweep: the tags of each scanned digest share its status (and its first
 * error), tags the source could not resolve (`tag_failed`) are failed without a digest.
 */
const tagResultsOf = (targets: readonly TargetResult[], diagnostics: readonly Diagnostic[]): TagResult[] => {
  const results: TagResult[] = []
  for (const target of targets) {
    const error = target.platform_results.find((platform) => platform.error)?.error
    for (const tag of target.tags) results.push({ tag, digest: target.digest, status: target.status, ...(target.status !== 'completed' && error ? { error } : {}) })
  }
  for (const diagnostic of diagnostics) {
    if (diagnostic.code === 'tag_failed' && diagnostic.scope === 'tag') results.push({ tag: diagnostic.subject, digest: '', status: 'failed', error: diagnostic.message })
  }
  return results.sort(byTag)
}
