/**
 * One `layerleak watch` pass over one repository:
 * 1. list its tags and HEAD each (HEAD, not GET: on Docker Hub a manifest GET costs pull quota);
 * 2. record every tag -> digest in the database; a tag at a new digest is a move (tag_moves);
 * 3. for each move not analysed yet, fetch both images' manifests (every platform of an index)
 *    and record the layers the old image had and the new one has not: zombie layers;
 * 4. HEAD every zombie layer known and not gone: 404 means gone (the registry collected it);
 * 5. download and scan the retrievable ones not read yet, with the normal detectors and filters,
 *    and store the findings (source_type `zombie_layer`) as a scan of the old image.
 * A tag that did not move costs one HEAD; nothing else is fetched for it.
 */
import { mapConcurrent } from '../core/concurrency.ts'
import type { Filter, OpenOptions } from '../core/contracts.ts'
import { isLayerleakError, LayerleakError, toLayerleakError } from '../core/errors.ts'
import { scanLayer } from '../core/layer-scanner.ts'
import type { Limits } from '../core/limits.ts'
import type { NestedArchiveOptions } from '../core/nested-archives.ts'
import type { Diagnostic, Finding, ScanResult } from '../core/result.ts'
import type { TextScanner } from '../core/text-scanner.ts'
import { afterCheck, detectTagMove, findingsInLayer, needsRecheck, type ScannedZombie, type TagMove, zombieScanResult, type ZombieStatus } from '../core/zombie-layers.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import {
  ensureRepository,
  finishMoveAnalysis,
  historyDb,
  movesToAnalyze,
  readTagHistory,
  readZombieLayers,
  recordTagPass,
  type StoredZombie,
  updateZombieLayer,
  type ZombieUpdate,
} from '../plugins/sinks/history-queries.ts'
import { persistScanResult } from '../plugins/sinks/postgres.ts'
import type { ParsedManifest } from '../plugins/sources/image-manifest.ts'
import { type ImageReference, imageReference, parseImageReference } from '../plugins/sources/image-reference.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'
import type { RegistryClient } from '../plugins/sources/registry-client.ts'
import { analyseMove } from './move-analysis.ts'

/** a move whose manifests could not be read is tried again on this many passes */
const MAX_ANALYSIS_ATTEMPTS = 3

export interface WatchContext {
  client: RegistryClient
  database: LayerleakDatabase
  scanner: TextScanner
  filters: readonly Filter[]
  limits: Limits
  archives?: NestedArchiveOptions
  persistRawSecrets?: boolean
  fingerprintKey?: string
  scannerInfo: ScanResult['scanner']
  /** `?n=` of the tag listing (LAYERLEAK_TAG_PAGE_SIZE) */
  tagPageSize?: number
  /** HEADs in flight (default 4; the client's per-host pacer bounds them too) */
  concurrency?: number
  /** zombie layers read at once (default 2) */
  layerConcurrency?: number
  /** parsed manifests by digest: they never change, so a long-running watch keeps them */
  manifestCache?: Map<string, Promise<ParsedManifest>>
  signal?: AbortSignal
  now?: () => Date
  /** each zombie scan's result once stored (the command writes the findings file) */
  onResult?: (result: ScanResult) => Promise<void>
  log?: (message: string) => void
}

export interface TagMoveReport {
  tag: string
  old_digest: string
  new_digest: string
  old_last_seen_at: string
  moved_at: string
}

export interface ZombieLayerReport {
  layer_digest: string
  tag: string
  old_manifest_digest: string
  new_manifest_digest: string
  moved_at: string
  platform: string
  layer_index: number
  size: number | null
  status: ZombieStatus
  /** the status before this pass; absent for a zombie found this pass */
  previous_status?: ZombieStatus
  findings: number
  suppressed_findings: number
  detail?: string
}

export interface RepositoryPass {
  /** `registry/repository` */
  repository: string
  started_at: string
  finished_at: string
  tags: number
  tags_failed: { tag: string; error: string }[]
  /** moves seen this pass */
  moves: TagMoveReport[]
  /** zombie layers found this pass, and known ones whose status changed */
  zombie_layers: ZombieLayerReport[]
  /** actionable findings of the zombie layers read this pass */
  findings: Finding[]
  suppressed_findings_count: number
  diagnostics: Diagnostic[]
  /** the pass could not be done (the tag list failed, the database...) */
  error?: string
}

/** A repository to watch: `alpine`, `ghcr.io/org/app`, `localhost:5000/team/app`; a tag or digest is a mistake. */
export const watchedRepository = (text: string): ImageReference => {
  const reference = parseImageReference(text.replace(/^docker:\/\//, ''))
  if (!reference.bare) {
    const extra = reference.digest ? `the digest @${reference.digest}` : `the tag :${reference.tag}`
    throw new LayerleakError('INVALID_ARGUMENT', `watch follows every tag of a repository: give "${reference.name}" without ${extra}`)
  }
  return reference
}

const anySignal = (...signals: (AbortSignal | undefined)[]): AbortSignal | undefined => {
  const present = signals.filter((signal): signal is AbortSignal => !!signal)
  return present.length > 1 ? AbortSignal.any(present) : present[0]
}

const aborted = (context: WatchContext, error?: unknown): boolean => context.signal?.aborted === true || (error !== undefined && isLayerleakError(error, 'ABORTED'))

const zombieReport = (zombie: StoredZombie, status: ZombieStatus, previous: ZombieStatus | undefined, counts?: { findings: number; suppressed: number }, detail?: string | null): ZombieLayerReport => ({
  layer_digest: zombie.layerDigest,
  tag: zombie.tag,
  old_manifest_digest: zombie.oldManifestDigest,
  new_manifest_digest: zombie.newManifestDigest,
  moved_at: zombie.movedAt.toISOString(),
  platform: zombie.platform,
  layer_index: zombie.layerIndex,
  size: zombie.size,
  status,
  ...(previous !== undefined ? { previous_status: previous } : {}),
  findings: counts?.findings ?? zombie.findings,
  suppressed_findings: counts?.suppressed ?? zombie.suppressedFindings,
  ...(detail ? { detail } : {}),
})

/** A stored zombie as the scan result wants it. */
const asCandidate = (zombie: StoredZombie): ScannedZombie['layer'] => ({
  digest: zombie.layerDigest,
  mediaType: zombie.mediaType,
  size: zombie.size ?? 0,
  sourceManifestDigest: zombie.sourceManifestDigest,
  platform: zombie.platform,
  layerIndex: zombie.layerIndex,
  buildStep: zombie.buildStep,
})

/** Watches one repository for one pass. Failures of single tags or layers are reported in the pass; a failure of the whole pass throws. */
export const watchRepositoryPass = async (repositoryText: string, context: WatchContext): Promise<RepositoryPass> => {
  const now = context.now ?? (() => new Date())
  const started = now()
  const reference = watchedRepository(repositoryText)
  const { client, limits, signal } = context
  const db = historyDb(context.database.db)
  const log = context.log ?? (() => {})
  const manifests = context.manifestCache ?? new Map<string, Promise<ParsedManifest>>()
  const pass: RepositoryPass = {
    repository: reference.name,
    started_at: started.toISOString(),
    finished_at: '',
    tags: 0,
    tags_failed: [],
    moves: [],
    zombie_layers: [],
    findings: [],
    suppressed_findings_count: 0,
    diagnostics: [],
  }
  const report = (diagnostic: Diagnostic) => {
    pass.diagnostics.push(diagnostic)
    log(`${diagnostic.code}: ${diagnostic.message}`)
  }

  // 1. tags, each resolved with HEAD
  const listed = await client.listTags(reference, {
    ...(signal ? { signal } : {}),
    pageSize: context.tagPageSize ?? 100,
    maxTags: limits.maxRepositoryTags,
    maxResponseBytes: limits.maxTagResponseBytes,
  })
  if (listed.truncated) {
    report({ code: 'limit_exceeded', scope: 'repository', subject: reference.name, message: `max_repository_tags (${limits.maxRepositoryTags}) reached: later tags of ${reference.name} are not watched` })
  }
  pass.tags = listed.tags.length
  const heads = await mapConcurrent(listed.tags, context.concurrency ?? 4, async (tag) => {
    try {
      return { tag, digest: (await client.headManifest(reference, tag, signal ? { signal } : {})).digest }
    } catch (error) {
      if (aborted(context, error)) throw error
      return { tag, error: toLayerleakError(error).message }
    }
  })
  const current = new Map<string, string>()
  for (const head of heads) {
    if (head.digest) current.set(head.tag, head.digest)
    else {
      pass.tags_failed.push({ tag: head.tag, error: head.error ?? 'no digest' })
      report({ code: 'tag_failed', scope: 'tag', subject: head.tag, message: head.error ?? `${head.tag} could not be resolved` })
    }
  }

  // 2. sightings and moves
  const repositoryId = await ensureRepository(db, { registry: reference.registry, name: reference.repository })
  const history = await readTagHistory(db, repositoryId)
  const moves: TagMove[] = []
  for (const [tag, digest] of current) {
    const move = detectTagMove(tag, digest, history.sightings.get(tag) ?? [], history.moves.get(tag) ?? [], started)
    if (move) moves.push(move)
  }
  await recordTagPass(db, repositoryId, [...current].map(([tag, digest]) => ({ tag, digest })), moves, started)
  for (const move of moves) {
    pass.moves.push({ tag: move.tag, old_digest: move.oldDigest, new_digest: move.newDigest, old_last_seen_at: move.oldLastSeenAt.toISOString(), moved_at: move.movedAt.toISOString() })
    log(`${reference.name}:${move.tag} moved ${move.oldDigest} -> ${move.newDigest}`)
  }

  // 3. which layers each move orphaned
  const at = (digest: string) => imageReference({ registry: reference.registry, repository: reference.repository, digest })
  const analysis = { client, repository: reference, limits, manifests, ...(signal ? { signal } : {}), report }
  for (const move of await movesToAnalyze(db, repositoryId, MAX_ANALYSIS_ATTEMPTS)) {
    try {
      const { note, zombies } = await analyseMove(move, current, analysis)
      await finishMoveAnalysis(db, move, repositoryId, { done: true, ...(note ? { note } : {}), zombies }, now())
    } catch (error) {
      if (aborted(context, error)) throw error
      const message = toLayerleakError(error).message
      const last = move.analysisAttempts + 1 >= MAX_ANALYSIS_ATTEMPTS
      report({ code: 'move_analysis_failed', scope: 'tag', subject: move.tag, message: `the layers of ${move.oldDigest} and ${move.newDigest} could not be compared${last ? '' : ' (tried again next pass)'}: ${message}` })
      await finishMoveAnalysis(db, move, repositoryId, { done: last, note: `the layers could not be compared: ${message}` }, now())
    }
  }

  // 4. every zombie known and not gone: HEAD (one per digest)
  const zombies = await readZombieLayers(db, repositoryId)
  const scannedBefore = new Map<string, StoredZombie>()
  for (const zombie of zombies) if (zombie.scannedAt && !scannedBefore.has(zombie.layerDigest)) scannedBefore.set(zombie.layerDigest, zombie)
  const active = zombies.filter(needsRecheck)
  const digests = [...new Set(active.map((zombie) => zombie.layerDigest))]
  const served = new Map<string, boolean>()
  await mapConcurrent(digests, context.concurrency ?? 4, async (digest) => {
    try {
      await client.headBlob(reference, digest, signal ? { signal } : {})
      served.set(digest, true)
    } catch (error) {
      if (aborted(context, error)) throw error
      if (isLayerleakError(error, 'NOT_FOUND')) served.set(digest, false)
      else report({ code: 'zombie_check_failed', scope: 'layer', subject: digest, message: `could not tell whether ${digest} is still served: ${toLayerleakError(error).message}` })
    }
  })
  const checked = now()
  /** found this pass: reported whatever its status */
  const isNew = (zombie: StoredZombie) => zombie.detectedAt.getTime() >= started.getTime()
  const toScan: StoredZombie[] = []
  for (const zombie of active) {
    const retrievable = served.get(zombie.layerDigest)
    if (retrievable === undefined) continue
    const elsewhere = scannedBefore.get(zombie.layerDigest)
    const decision = afterCheck(zombie, retrievable, elsewhere !== undefined && elsewhere.id !== zombie.id)
    if (decision.scan) {
      toScan.push(zombie)
      continue
    }
    const copied = decision.status === 'scanned' && !zombie.scannedAt && elsewhere
    await updateZombieLayer(db, zombie.id, {
      status: decision.status,
      checkedAt: checked,
      ...(copied ? { scanned: { at: elsewhere.scannedAt ?? checked, findings: elsewhere.findings, suppressedFindings: elsewhere.suppressedFindings, scanRunId: elsewhere.scanRunId } } : {}),
    })
    if (decision.status !== zombie.status || isNew(zombie)) {
      const counts = copied ? { findings: elsewhere.findings, suppressed: elsewhere.suppressedFindings } : undefined
      pass.zombie_layers.push(zombieReport(zombie, decision.status, isNew(zombie) ? undefined : zombie.status, counts, copied ? 'read before, under another move' : zombie.statusDetail))
    }
  }

  // 5. read the retrievable zombies, one stored scan per move
  const readThisPass = new Map<string, NonNullable<ZombieUpdate['scanned']>>()
  const byMove = new Map<number, StoredZombie[]>()
  for (const zombie of toScan) byMove.set(zombie.tagMoveId, [...(byMove.get(zombie.tagMoveId) ?? []), zombie])
  for (const group of byMove.values()) {
    // a move orphans a layer once (one row per move and layer); another move may have read it already
    const reading = group.filter((zombie) => !readThisPass.has(zombie.layerDigest))
    const startedMove = now()
    const outcomes = await mapConcurrent(reading, context.layerConcurrency ?? 2, async (zombie) => {
      const layer = makeLayer({ digest: zombie.layerDigest, mediaType: zombie.mediaType, size: zombie.size ?? 0 }, zombie.layerIndex, (open?: OpenOptions) => {
        const stop = anySignal(signal, open?.signal)
        return client.openBlob(at(zombie.layerDigest), zombie.layerDigest, { ...(stop ? { signal: stop } : {}), ...(zombie.size !== null ? { expectedSize: zombie.size } : {}) })
      })
      const outcome = await scanLayer(layer, { scanner: context.scanner, limits, ...(context.archives ? { archives: context.archives } : {}), ...(signal ? { signal } : {}) })
      return { zombie, outcome }
    })
    if (signal?.aborted) throw new LayerleakError('ABORTED', 'the watch was stopped')
    const finished = now()
    // a blob that vanished between HEAD and GET is gone, not failed
    const gone = outcomes.filter(({ outcome }) => outcome.error && isLayerleakError(outcome.error, 'NOT_FOUND') && outcome.files === 0)
    const read = outcomes.filter((entry) => !gone.includes(entry))
    for (const { zombie } of gone) {
      await updateZombieLayer(db, zombie.id, { status: 'gone', checkedAt: finished })
      pass.zombie_layers.push(zombieReport(zombie, 'gone', isNew(zombie) ? undefined : zombie.status))
    }
    if (read.length > 0) {
      const first = group[0]
      const result = zombieScanResult({
        repository: reference.name,
        registry: reference.registry,
        move: { tag: first.tag, oldDigest: first.oldManifestDigest, newDigest: first.newManifestDigest, movedAt: first.movedAt, oldMediaType: '' },
        scanned: read.map(({ zombie, outcome }) => ({ layer: asCandidate(zombie), outcome })),
        filters: context.filters,
        assemble: { persistRawSecrets: context.persistRawSecrets ?? false, ...(context.fingerprintKey ? { fingerprintKey: context.fingerprintKey } : {}) },
        scanner: context.scannerInfo,
        startedAt: startedMove,
        finishedAt: finished,
      })
      const { scanRunId } = await persistScanResult(context.database.db, result)
      await context.onResult?.(result)
      pass.findings.push(...result.findings)
      pass.suppressed_findings_count += result.suppressed_findings_count
      pass.diagnostics.push(...result.diagnostics)
      for (const { zombie, outcome } of read) {
        if (outcome.error) {
          await updateZombieLayer(db, zombie.id, { status: 'failed', checkedAt: finished, attempted: true, statusDetail: outcome.error.message })
          pass.zombie_layers.push(zombieReport(zombie, 'failed', isNew(zombie) ? undefined : zombie.status, { findings: 0, suppressed: 0 }, outcome.error.message))
          continue
        }
        const counts = findingsInLayer(result, zombie.layerDigest)
        const detail = outcome.limitHit ? `${outcome.limitHit} reached: the layer was read in part` : null
        const scanned = { at: finished, findings: counts.actionable, suppressedFindings: counts.suppressed, scanRunId }
        await updateZombieLayer(db, zombie.id, { status: 'scanned', checkedAt: finished, attempted: true, statusDetail: detail, scanned })
        readThisPass.set(zombie.layerDigest, scanned)
        pass.zombie_layers.push(zombieReport(zombie, 'scanned', isNew(zombie) ? undefined : zombie.status, { findings: counts.actionable, suppressed: counts.suppressed }, detail))
      }
    }
    // layers this move shares with a move read earlier in the pass
    for (const zombie of group) {
      if (reading.includes(zombie)) continue
      const earlier = readThisPass.get(zombie.layerDigest)
      if (!earlier) continue
      await updateZombieLayer(db, zombie.id, { status: 'scanned', checkedAt: finished, scanned: earlier })
      pass.zombie_layers.push(zombieReport(zombie, 'scanned', isNew(zombie) ? undefined : zombie.status, { findings: earlier.findings, suppressed: earlier.suppressedFindings }, 'read before, under another move'))
    }
  }
  pass.finished_at = now().toISOString()
  return pass
}
