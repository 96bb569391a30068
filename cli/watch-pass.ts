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
import { formatPlatform } from '../core/platform.ts'
import type { Diagnostic, Finding, ScanResult } from '../core/result.ts'
import type { TextScanner } from '../core/text-scanner.ts'
import {
  afterCheck,
  detectTagMove,
  findingsInLayer,
  type ImageLayers,
  needsRecheck,
  type ScannedZombie,
  stillTaggedAs,
  type TagMove,
  type ZombieCandidate,
  zombieCandidates,
  zombieScanResult,
  type ZombieStatus,
} from '../core/zombie-layers.ts'
import type { LayerleakDatabase } from '../plugins/sinks/database.ts'
import {
  ensureRepository,
  finishMoveAnalysis,
  historyDb,
  movesToAnalyze,
  readTagHistory,
  readZombieLayers,
  recordTagPass,
  type StoredMove,
  type StoredZombie,
  updateZombieLayer,
} from '../plugins/sinks/history-queries.ts'
import { persistScanResult } from '../plugins/sinks/postgres.ts'
import { buildStepsForLayers, type ParsedManifest, parseImageConfig, parseManifest, selectPlatforms } from '../plugins/sources/image-manifest.ts'
import { type ImageReference, imageReference, parseImageReference } from '../plugins/sources/image-reference.ts'
import { makeLayer } from '../plugins/sources/layer-reader.ts'
import type { RegistryClient } from '../plugins/sources/registry-client.ts'

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
  const manifestOf = (digest: string): Promise<ParsedManifest> => {
    let pending = manifests.get(digest)
    if (!pending) {
      pending = client
        .getManifest(at(digest), digest, { ...(signal ? { signal } : {}), maxBytes: limits.maxManifestBytes })
        .then((fetched) => parseManifest(fetched.bytes, fetched.mediaType, `manifest ${reference.name}@${digest}`))
      manifests.set(digest, pending)
      // a failure is not remembered: the next pass asks again
      pending.catch(() => manifests.delete(digest))
    }
    return pending
  }
  const imagesOf = async (digest: string): Promise<(ImageLayers & { configDigest: string })[]> => {
    const top = await manifestOf(digest)
    if (top.kind === 'manifest') return [{ manifestDigest: digest, platform: '', configDigest: top.config.digest, layers: top.layers }]
    const images: (ImageLayers & { configDigest: string })[] = []
    for (const entry of selectPlatforms(top.manifests, undefined, () => {}, `${reference.name}@${digest}`)) {
      const parsed = await manifestOf(entry.digest)
      if (parsed.kind === 'manifest') images.push({ manifestDigest: entry.digest, platform: formatPlatform(entry.platform), configDigest: parsed.config.digest, layers: parsed.layers })
    }
    return images
  }
  /** the build step of each candidate, and the platform of a single-platform image, from the old image's config */
  const describeCandidates = async (images: (ImageLayers & { configDigest: string })[], candidates: ZombieCandidate[]) => {
    const described: (ZombieCandidate & { buildStep: string })[] = []
    for (const image of images) {
      const mine = candidates.filter((candidate) => candidate.sourceManifestDigest === image.manifestDigest)
      if (mine.length === 0) continue
      let steps: string[] = []
      let platform = image.platform
      try {
        const config = parseImageConfig(await client.getBlobBytes(at(image.configDigest), image.configDigest, limits.maxConfigBytes, signal ? { signal } : {}), image.configDigest)
        steps = buildStepsForLayers(config.history, image.layers.length)
        platform ||= formatPlatform(config.platform)
      } catch (error) {
        if (aborted(context, error)) throw error
        report({ code: 'config_failed', scope: 'target', subject: image.configDigest, message: `the config of ${image.manifestDigest} could not be read (build steps unknown): ${toLayerleakError(error).message}` })
      }
      for (const candidate of mine) described.push({ ...candidate, platform: candidate.platform || platform, buildStep: steps[candidate.layerIndex] ?? '' })
    }
    return described
  }
  const analyse = async (move: StoredMove): Promise<void> => {
    const done = (note?: string, zombies?: (ZombieCandidate & { buildStep: string })[]) => finishMoveAnalysis(db, move, repositoryId, { done: true, ...(note ? { note } : {}), ...(zombies ? { zombies } : {}) }, now())
    const taggedAs = stillTaggedAs(move.oldDigest, current, move.tag)
    if (taggedAs) return done(`the old image is still tagged ${taggedAs}: none of its layers is orphaned`)
    let old: Awaited<ReturnType<typeof imagesOf>>
    let fresh: Awaited<ReturnType<typeof imagesOf>>
    try {
      old = await imagesOf(move.oldDigest)
    } catch (error) {
      if (aborted(context, error)) throw error
      if (isLayerleakError(error, 'NOT_FOUND')) return done('the old manifest is gone from the registry: its layers cannot be listed')
      return failed(move, error)
    }
    try {
      fresh = await imagesOf(move.newDigest)
    } catch (error) {
      if (aborted(context, error)) throw error
      if (isLayerleakError(error, 'NOT_FOUND')) return done('the new manifest is gone from the registry (the tag moved again): a later move covers it')
      return failed(move, error)
    }
    const { candidates, skipped } = zombieCandidates(old, fresh)
    for (const layer of skipped) report({ code: 'zombie_layer_skipped', scope: 'layer', subject: layer.digest, message: `layer ${layer.digest} of ${move.oldDigest} (${layer.mediaType}) is orphaned but not scanned: ${layer.reason}` })
    if (candidates.length === 0) return done('every layer of the old image is still in the new one')
    await done(undefined, await describeCandidates(old, candidates))
  }
  const failed = async (move: StoredMove, error: unknown) => {
    const message = toLayerleakError(error).message
    const last = move.analysisAttempts + 1 >= MAX_ANALYSIS_ATTEMPTS
    report({ code: 'move_analysis_failed', scope: 'tag', subject: move.tag, message: `the layers of ${move.oldDigest} and ${move.newDigest} could not be compared${last ? '' : ' (tried again next pass)'}: ${message}` })
    await finishMoveAnalysis(db, move, repositoryId, { done: last, note: `the layers could not be compared: ${message}` }, now())
  }
  for (const move of await movesToAnalyze(db, repositoryId, MAX_ANALYSIS_ATTEMPTS)) await analyse(move)

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
  const readThisPass = new Map<string, { at: Date; findings: number; suppressed: number; scanRunId: number | null }>()
  const byMove = new Map<number, StoredZombie[]>()
  for (const zombie of toScan) byMove.set(zombie.tagMoveId, [...(byMove.get(zombie.tagMoveId) ?? []), zombie])
  for (const group of byMove.values()) {
    const reading = group.filter((zombie, i) => !readThisPass.has(zombie.layerDigest) && group.findIndex((other) => other.layerDigest === zombie.layerDigest) === i)
    const startedMove = now()
    const outcomes = await mapConcurrent(reading, context.layerConcurrency ?? 2, async (zombie) => {
      const layer = makeLayer({ digest: zombie.layerDigest, mediaType: zombie.mediaType, size: zombie.size ?? 0 }, zombie.layerIndex, (open?: OpenOptions) =>
        client.openBlob(at(zombie.layerDigest), zombie.layerDigest, { ...(anySignal(signal, open?.signal) ? { signal: anySignal(signal, open?.signal) } : {}), ...(zombie.size !== null ? { expectedSize: zombie.size } : {}) }),
      )
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
    let result: ScanResult | undefined
    let scanRunId: number | null = null
    if (read.length > 0) {
      const first = group[0]
      const scanned: ScannedZombie[] = read.map(({ zombie, outcome }) => ({
        layer: {
          digest: zombie.layerDigest,
          mediaType: zombie.mediaType,
          size: zombie.size ?? 0,
          sourceManifestDigest: zombie.sourceManifestDigest,
          platform: zombie.platform,
          layerIndex: zombie.layerIndex,
          buildStep: zombie.buildStep,
        },
        outcome,
      }))
      result = zombieScanResult({
        repository: reference.name,
        registry: reference.registry,
        move: { tag: first.tag, oldDigest: first.oldManifestDigest, newDigest: first.newManifestDigest, movedAt: first.movedAt, oldMediaType: '' },
        scanned,
        filters: context.filters,
        assemble: { persistRawSecrets: context.persistRawSecrets ?? false, ...(context.fingerprintKey ? { fingerprintKey: context.fingerprintKey } : {}) },
        scanner: context.scannerInfo,
        startedAt: startedMove,
        finishedAt: finished,
      })
      scanRunId = (await persistScanResult(context.database.db, result)).scanRunId
      await context.onResult?.(result)
      pass.findings.push(...result.findings)
      pass.suppressed_findings_count += result.suppressed_findings_count
      pass.diagnostics.push(...result.diagnostics)
    }
    for (const { zombie, outcome } of read) {
      if (!result) break
      if (outcome.error) {
        await updateZombieLayer(db, zombie.id, { status: 'failed', checkedAt: finished, attempted: true, statusDetail: outcome.error.message })
        pass.zombie_layers.push(zombieReport(zombie, 'failed', isNew(zombie) ? undefined : zombie.status, { findings: 0, suppressed: 0 }, outcome.error.message))
        continue
      }
      const counts = findingsInLayer(result, zombie.layerDigest)
      const detail = outcome.limitHit ? `${outcome.limitHit} reached: the layer was read in part` : null
      await updateZombieLayer(db, zombie.id, {
        status: 'scanned',
        checkedAt: finished,
        attempted: true,
        statusDetail: detail,
        scanned: { at: finished, findings: counts.actionable, suppressedFindings: counts.suppressed, scanRunId },
      })
      readThisPass.set(zombie.layerDigest, { at: finished, findings: counts.actionable, suppressed: counts.suppressed, scanRunId })
      pass.zombie_layers.push(zombieReport(zombie, 'scanned', isNew(zombie) ? undefined : zombie.status, { findings: counts.actionable, suppressed: counts.suppressed }, detail))
    }
    // the same layer orphaned twice in this group, or read under an earlier move this pass
    for (const zombie of group) {
      if (reading.includes(zombie)) continue
      const earlier = readThisPass.get(zombie.layerDigest)
      if (!earlier) continue
      await updateZombieLayer(db, zombie.id, { status: 'scanned', checkedAt: finished, scanned: { at: earlier.at, findings: earlier.findings, suppressedFindings: earlier.suppressed, scanRunId: earlier.scanRunId } })
      pass.zombie_layers.push(zombieReport(zombie, 'scanned', isNew(zombie) ? undefined : zombie.status, { findings: earlier.findings, suppressed: earlier.suppressed }, 'read before, under another move'))
    }
  }
  pass.finished_at = now().toISOString()
  return pass
}
