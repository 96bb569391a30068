/**
 * Repository sweeps (`layerleak scan <repository> --all-tags`): every tag of a repository, listed
 * page by page (`?n=` and RFC 8288 Link), resolved to its digest with HEAD (free on Docker Hub,
 * where manifest GETs cost pull quota; the client falls back to GET when HEAD says no digest), and
 * grouped by digest, so each image is fetched and scanned once however many tags name it.
 * Caps fail closed and keep what was found; a tag that cannot be resolved is reported and the
 * sweep goes on.
 *
 * What the pipeline learns, through `report`:
 * - `tag_failed` (scope `tag`, subject: the tag): the tag could not be resolved to a digest; the
 *   pipeline lists it in `tag_results` as failed, with the message as its error.
 * - `limit_exceeded` (scope `repository`): the message starts with the limit's name
 *   (`max_repository_tags`...), which the pipeline adds to `coverage.limits_hit`.
 */
import { mapConcurrent } from '../../core/concurrency.ts'
import type { ResolveOptions } from '../../core/contracts.ts'
import { LayerleakError, toLayerleakError } from '../../core/errors.ts'
import { exceeds } from '../../core/limits.ts'
import { type ImageReference, parseImageReference } from './image-reference.ts'
import type { RegistryClient } from './registry-client.ts'

export interface DigestGroup {
  digest: string
  /** as the HEAD answer said (an index or a manifest) */
  mediaType: string
  size: number
  /** every tag naming this digest, sorted */
  tags: string[]
}

export interface SweepOptions {
  client: RegistryClient
  /** `?n=` per tag page (LAYERLEAK_TAG_PAGE_SIZE) */
  tagPageSize: number
  /** HEADs in flight; the client's per-host pacer bounds them as well */
  concurrency: number
}

/** References other sources own (`oci:/dir`, `docker-archive:x.tar`...): nothing there to list tags of. */
export const OTHER_TRANSPORT = /^(oci|oci-archive|docker-archive|docker-daemon|containers-storage|dir|file):/

/** The repository a sweep covers; a tag or digest in the reference is a mistake, not a hint. */
export const sweepReference = (text: string): ImageReference => {
  if (OTHER_TRANSPORT.test(text)) throw new LayerleakError('INVALID_ARGUMENT', `--all-tags sweeps a registry repository; "${text}" is not one`)
  const reference = parseImageReference(text)
  if (!reference.bare) {
    const extra = reference.digest ? `the digest @${reference.digest}` : `the tag :${reference.tag}`
    throw new LayerleakError('INVALID_ARGUMENT', `--all-tags sweeps a whole repository: give "${reference.name}" without ${extra}`)
  }
  return reference
}

/** `a, b, c and 12 more` */
const preview = (items: string[], shown = 5): string =>
  items.length <= shown ? items.join(', ') : `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`

/** The repository's tags, page by page, up to max_repository_tags; a failing page keeps the earlier ones. */
const listTags = async (repository: ImageReference, resolve: ResolveOptions, options: SweepOptions): Promise<string[]> => {
  const { limits, report, signal } = resolve
  const tags: string[] = []
  const seen = new Set<string>()
  try {
    const pages = options.client.tagPages(repository, { pageSize: options.tagPageSize, maxResponseBytes: limits.maxTagResponseBytes, ...(signal ? { signal } : {}) })
    for await (const page of pages) {
      for (const tag of page) {
        if (seen.has(tag)) continue
        if (exceeds(tags.length + 1, limits.maxRepositoryTags)) {
          report({
            code: 'limit_exceeded',
            scope: 'repository',
            subject: repository.name,
            message: `max_repository_tags (${limits.maxRepositoryTags}) reached: the tag listing of ${repository.name} stopped there; later tags were not scanned`,
          })
          return tags
        }
        seen.add(tag)
        tags.push(tag)
      }
    }
  } catch (error) {
    const failure = toLayerleakError(error)
    if (failure.code === 'ABORTED' || signal?.aborted) throw failure
    if (failure.code === 'LIMIT_EXCEEDED') {
      const limit = String(failure.details.limit ?? 'max_tag_response_bytes')
      report({ code: 'limit_exceeded', scope: 'repository', subject: repository.name, message: `${limit} reached after ${tags.length} tags of ${repository.name}: ${failure.message}` })
    } else if (tags.length > 0) {
      report({ code: 'tag_list_failed', scope: 'repository', subject: repository.name, message: `the tag listing of ${repository.name} failed after ${tags.length} tags: ${failure.message}` })
    }
    if (tags.length === 0) throw failure
  }
  return tags
}

/**
 * Lists, resolves and groups: the digests to scan, in the order of their first tag (sorted), at
 * most max_repository_targets of them. Tags that failed are reported; nothing here fetches a
 * manifest body unless a registry's HEAD answer lacks the digest.
 */
export const planSweep = async (repository: ImageReference, resolve: ResolveOptions, options: SweepOptions): Promise<DigestGroup[]> => {
  const { limits, report, signal } = resolve
  // registries list in their own order (distribution 2 does not sort): sorted, a sweep reads the same twice
  const tags = (await listTags(repository, resolve, options)).sort()
  if (tags.length === 0) throw new LayerleakError('NOT_FOUND', `repository ${repository.name} has no tags`)

  const heads = await mapConcurrent(tags, options.concurrency, async (tag) => {
    try {
      return { tag, head: await options.client.headManifest(repository, tag, signal ? { signal } : {}) }
    } catch (error) {
      const failure = toLayerleakError(error)
      if (failure.code === 'ABORTED' || signal?.aborted) throw failure
      return { tag, failure }
    }
  })

  const groups = new Map<string, DigestGroup>()
  const failed: string[] = []
  for (const { tag, head, failure } of heads) {
    if (!head) {
      failed.push(tag)
      report({ code: 'tag_failed', scope: 'tag', subject: tag, message: failure?.message ?? `${tag} could not be resolved` })
      continue
    }
    const group = groups.get(head.digest)
    if (group) group.tags.push(tag)
    else groups.set(head.digest, { digest: head.digest, mediaType: head.mediaType, size: head.size, tags: [tag] })
  }
  if (groups.size === 0) {
    throw new LayerleakError('REGISTRY_ERROR', `none of the ${tags.length} tags of ${repository.name} could be resolved to a digest (${preview(failed)})`)
  }

  const all = [...groups.values()]
  if (!exceeds(all.length, limits.maxRepositoryTargets)) return all
  const kept = all.slice(0, limits.maxRepositoryTargets)
  const left = all.slice(limits.maxRepositoryTargets)
  const leftTags = left.flatMap((group) => group.tags)
  report({
    code: 'limit_exceeded',
    scope: 'repository',
    subject: repository.name,
    message: `max_repository_targets (${limits.maxRepositoryTargets}) reached: ${left.length} more digest${left.length === 1 ? '' : 's'} of ${repository.name} (tags ${preview(leftTags)}) not scanned`,
  })
  return kept
}
