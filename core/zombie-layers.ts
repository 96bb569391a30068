/**
 * Zombie layers: when a tag moves to another image, the layers the old image had and the new one
 * has not are referenced by no tag any more, yet the registry serves them by digest until its
 * garbage collector runs (weeks on Docker Hub, GitHub and ECR). A secret "removed" by a re-push
 * stays downloadable there. This module is the bookkeeping, without network or database: when a
 * tag moved, which layers became zombies, what a watch pass does with a zombie it knows, and the
 * scan result of the zombies of one move (source_type `zombie_layer`, never in a current image).
 */
import type { Filter, LayerDescriptor } from './contracts.ts'
import { type AssembleOptions, assembleFindings, classifyMatch, type OccurrenceDraft } from './findings.ts'
import { shortDigest } from './digest.ts'
import type { LayerScanOutcome } from './layer-scanner.ts'
import { isForeignLayerMediaType } from './media-types.ts'
import { type Coverage, type Diagnostic, type PlatformResult, RESULT_SCHEMA_VERSION, type ScanResult, type ScanStatus, type ZombieOrigin } from './result.ts'

// ---- tag moves ----

/** One row of a tag's digest history: the tag pointed at `digest` from `firstSeenAt` to `lastSeenAt`, at least. */
export interface TagSighting {
  digest: string
  firstSeenAt: Date
  lastSeenAt: Date
}

/** A move already recorded. */
export interface RecordedMove {
  oldDigest: string
  newDigest: string
  detectedAt: Date
}

export interface TagMove {
  tag: string
  oldDigest: string
  newDigest: string
  /** the tag was last seen at the old digest then: it moved after this */
  oldLastSeenAt: Date
  /** the tag was first seen at the new digest then: it moved at or before this */
  movedAt: Date
}

const latestFirst = (a: TagSighting, b: TagSighting): number =>
  b.lastSeenAt.getTime() - a.lastSeenAt.getTime() || b.firstSeenAt.getTime() - a.firstSeenAt.getTime()

/**
 * Whether `tag`, now at `currentDigest`, moved since it was last recorded. Usually the last digest
 * recorded differs. But a scan also records tags: when it saw the new digest before the watch
 * did, the history already ends at the current digest, and the step to it from the digest before
 * is a move nobody handled yet (no move from that digest to this one recorded after the old digest
 * was last seen). The first sighting of a tag is no move.
 */
export const detectTagMove = (tag: string, currentDigest: string, history: readonly TagSighting[], recorded: readonly RecordedMove[], now: Date): TagMove | undefined => {
  const [latest, previous] = [...history].sort(latestFirst)
  if (!latest) return undefined
  if (latest.digest !== currentDigest) return { tag, oldDigest: latest.digest, newDigest: currentDigest, oldLastSeenAt: latest.lastSeenAt, movedAt: now }
  if (!previous || previous.digest === currentDigest) return undefined
  const handled = recorded.some(
    (move) => move.oldDigest === previous.digest && move.newDigest === currentDigest && move.detectedAt.getTime() >= previous.lastSeenAt.getTime(),
  )
  if (handled) return undefined
  // the current digest's row may be older than the move (the tag pointed here once before): then
  // only its last sighting bounds the move
  const movedAt = latest.firstSeenAt.getTime() > previous.lastSeenAt.getTime() ? latest.firstSeenAt : latest.lastSeenAt
  return { tag, oldDigest: previous.digest, newDigest: currentDigest, oldLastSeenAt: previous.lastSeenAt, movedAt }
}

// ---- which layers became zombies ----

/** The layers of one image manifest: an image, or one platform of an index. */
export interface ImageLayers {
  manifestDigest: string
  /** `linux/amd64`; '' when unknown */
  platform: string
  layers: LayerDescriptor[]
}

export interface ZombieCandidate extends LayerDescriptor {
  /** the old image manifest that lists it (first one, when several platforms share it) */
  sourceManifestDigest: string
  platform: string
  /** its position in that manifest */
  layerIndex: number
}

export interface ZombieAnalysis {
  candidates: ZombieCandidate[]
  /** layers that are gone from every current image but are not tar layers a registry serves (foreign, artifacts) */
  skipped: { digest: string; mediaType: string; reason: string }[]
}

/**
 * The layers the old image had that the new one has not. For indexes, across platforms: the union
 * of the old index's platform manifests' layers, less the union of the new one's (a layer that
 * moved from one platform to another is still referenced). Foreign and non-tar layers are left out:
 * registries do not serve the first, the second hold no files to scan.
 */
export const zombieCandidates = (old: readonly ImageLayers[], current: readonly ImageLayers[]): ZombieAnalysis => {
  const referenced = new Set(current.flatMap((image) => image.layers.map((layer) => layer.digest)))
  const seen = new Set<string>()
  const analysis: ZombieAnalysis = { candidates: [], skipped: [] }
  for (const image of old) {
    image.layers.forEach((layer, layerIndex) => {
      if (referenced.has(layer.digest) || seen.has(layer.digest)) return
      seen.add(layer.digest)
      if (isForeignLayerMediaType(layer.mediaType)) return void analysis.skipped.push({ digest: layer.digest, mediaType: layer.mediaType, reason: 'foreign layer' })
      if (layer.mediaType && !layer.mediaType.includes('tar')) return void analysis.skipped.push({ digest: layer.digest, mediaType: layer.mediaType, reason: 'not a tar layer' })
      analysis.candidates.push({ ...layer, sourceManifestDigest: image.manifestDigest, platform: image.platform, layerIndex })
    })
  }
  return analysis
}

/**
 * No layer of an image some tag still names is a zombie: when the old digest is another tag's
 * current digest, nothing was orphaned. Returns that tag, if any.
 */
export const stillTaggedAs = (oldDigest: string, currentTags: ReadonlyMap<string, string>, movedTag: string): string | undefined => {
  for (const [tag, digest] of currentTags) if (tag !== movedTag && digest === oldDigest) return tag
  return undefined
}

// ---- what a pass does with a zombie it knows ----

export type ZombieStatus = 'retrievable' | 'gone' | 'scanned' | 'failed'

/** a layer that failed this many reads is not downloaded again (it is still checked for being gone) */
export const MAX_ZOMBIE_SCAN_ATTEMPTS = 3

export interface ZombieState {
  status: ZombieStatus
  scanAttempts: number
  scannedAt: Date | null
}

/** Gone is final; everything else is checked again with HEAD on every pass. */
export const needsRecheck = (state: Pick<ZombieState, 'status'>): boolean => state.status !== 'gone'

/**
 * A zombie's status once HEAD answered, and whether to download and scan it now: never a layer
 * already scanned (here or under another move), nor one that failed too often.
 */
export const afterCheck = (state: ZombieState, retrievable: boolean, scannedElsewhere = false): { status: ZombieStatus; scan: boolean } => {
  if (!retrievable) return { status: 'gone', scan: false }
  if (state.scannedAt || state.status === 'scanned' || scannedElsewhere) return { status: 'scanned', scan: false }
  if (state.status === 'failed' && state.scanAttempts >= MAX_ZOMBIE_SCAN_ATTEMPTS) return { status: 'failed', scan: false }
  return { status: 'retrievable', scan: true }
}

// ---- the scan result of one move's zombies ----

/** A zombie layer as read: where it sat in the old image, and what reading it found. */
export interface ScannedZombie {
  layer: ZombieCandidate & { buildStep: string }
  outcome: LayerScanOutcome
}

export interface ZombieResultInput {
  /** `registry/repository` */
  repository: string
  registry: string
  move: { tag: string; oldDigest: string; newDigest: string; movedAt: Date; oldMediaType: string }
  scanned: readonly ScannedZombie[]
  filters: readonly Filter[]
  assemble: Omit<AssembleOptions, 'seenAt'>
  scanner: ScanResult['scanner']
  startedAt: Date
  finishedAt: Date
}



/**
 * One move's zombie layers as a ScanResult of the old image (mode `reference`, no tags: the tag
 * names another image now), every occurrence `zombie_layer`, not present in any final image, and
 * carrying the move (`zombie`).
 */
export const zombieScanResult = (input: ZombieResultInput): ScanResult => {
  const { move, filters } = input
  const drafts: OccurrenceDraft[] = []
  const diagnostics: Diagnostic[] = []
  const coverage: Coverage = { layers_total: 0, layers_scanned: 0, layers_failed: 0, layers_cached: 0, files_scanned: 0, files_skipped: 0, bytes_scanned: 0, limits_hit: [] }
  const platforms = new Map<string, PlatformResult>()
  for (const { layer, outcome } of input.scanned) {
    const platform = platforms.get(layer.sourceManifestDigest) ?? {
      platform: layer.platform,
      manifest_digest: layer.sourceManifestDigest,
      config_digest: '',
      status: 'completed' as ScanStatus,
      layer_count: 0,
      layers_scanned: 0,
      files_scanned: 0,
      bytes_scanned: 0,
      findings: 0,
      suppressed_findings: 0,
    }
    platforms.set(layer.sourceManifestDigest, platform)
    platform.layer_count++
    coverage.layers_total++
    coverage.files_scanned += outcome.files
    coverage.bytes_scanned += outcome.bytes
    platform.files_scanned += outcome.files
    platform.bytes_scanned += outcome.bytes
    diagnostics.push(...outcome.diagnostics)
    if (outcome.error) {
      coverage.layers_failed++
      platform.status = 'partial'
      diagnostics.push({ code: outcome.error.code === 'DIGEST_MISMATCH' ? 'digest_mismatch' : 'layer_failed', scope: 'layer', subject: layer.digest, message: outcome.error.message })
    } else {
      coverage.layers_scanned++
      platform.layers_scanned++
    }
    if (outcome.limitHit) {
      platform.status = 'partial'
      if (!coverage.limits_hit.includes(outcome.limitHit)) coverage.limits_hit.push(outcome.limitHit)
      diagnostics.push({ code: 'limit_exceeded', scope: 'layer', subject: layer.digest, message: `${outcome.limitHit} reached in zombie layer ${layer.layerIndex}: the rest of the layer was not scanned` })
    }
    for (const match of outcome.matches) {
      const verdict = classifyMatch(filters, { detectorId: match.detectorId, confidence: match.confidence, value: match.value, sourceType: 'zombie_layer', path: match.path, key: match.key, line: match.line })
      drafts.push({
        match,
        manifestDigest: layer.sourceManifestDigest,
        fields: {
          disposition: verdict.disposition,
          disposition_reason: verdict.reason,
          source_type: 'zombie_layer',
          platform: layer.platform,
          file_path: match.path,
          layer_digest: layer.digest,
          layer_index: layer.layerIndex,
          build_step: layer.buildStep,
          source_location: `zombie layer ${layer.layerIndex} (${shortDigest(layer.digest)}) of ${shortDigest(move.oldDigest)} /${match.path}:${match.lineNumber}`,
          present_in_final_image: false,
        },
      })
    }
  }
  const origin: ZombieOrigin = { tag: move.tag, old_manifest_digest: move.oldDigest, new_manifest_digest: move.newDigest, moved_at: move.movedAt.toISOString() }
  // the assembler builds occurrences field by field: the move is attached after it
  const all = assembleFindings(drafts, { ...input.assemble, seenAt: input.startedAt.toISOString() }).map((finding) => ({
    ...finding,
    occurrences: finding.occurrences.map((occurrence) => ({ ...occurrence, zombie: origin })),
  }))
  const findings = all.filter((finding) => finding.disposition === 'actionable')
  const suppressed = all.filter((finding) => finding.disposition === 'suppressed')
  const platformResults = [...platforms.values()]
  for (const result of platformResults) {
    result.findings = findings.filter((finding) => finding.manifest_digest === result.manifest_digest).length
    result.suppressed_findings = suppressed.filter((finding) => finding.manifest_digest === result.manifest_digest).length
    if (result.layers_scanned === 0 && result.layer_count > 0) result.status = 'failed'
  }
  let status: ScanStatus = 'completed'
  if (platformResults.length > 0 && platformResults.every((result) => result.status === 'failed')) status = 'failed'
  else if (platformResults.some((result) => result.status !== 'completed')) status = 'partial'
  const resolved = `${input.repository}@${move.oldDigest}`
  // said first, so whoever lists scans sees why an image no tag names was scanned
  diagnostics.unshift({
    code: 'zombie_layers',
    scope: 'scan',
    subject: move.tag,
    message: `layers of ${resolved} that ${input.repository}:${move.tag} left behind when it moved to ${move.newDigest} (by ${origin.moved_at}): no tag references them, the registry still serves them`,
  })
  return {
    result_schema_version: RESULT_SCHEMA_VERSION,
    requested_reference: resolved,
    repository: input.repository,
    registry: input.registry,
    mode: 'reference',
    resolved_reference: resolved,
    status,
    scanned_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    duration_ms: input.finishedAt.getTime() - input.startedAt.getTime(),
    scanner: input.scanner,
    target_count: 1,
    manifest_count: platformResults.length,
    total_findings: findings.length,
    unique_fingerprints: new Set(findings.map((finding) => finding.fingerprint)).size,
    suppressed_findings_count: suppressed.length,
    targets: [{ reference: resolved, digest: move.oldDigest, media_type: move.oldMediaType, tags: [], status, platform_results: platformResults }],
    tag_results: [],
    coverage,
    diagnostics,
    findings,
    suppressed_findings: suppressed,
  }
}

/** Findings (actionable, suppressed) with an occurrence in the layer. */
export const findingsInLayer = (result: ScanResult, layerDigest: string): { actionable: number; suppressed: number } => {
  const holds = (finding: ScanResult['findings'][number]) => finding.occurrences.some((occurrence) => occurrence.layer_digest === layerDigest)
  return { actionable: result.findings.filter(holds).length, suppressed: result.suppressed_findings.filter(holds).length }
}
