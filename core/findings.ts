/**
 * Merges occurrences into findings: one finding per (manifest, fingerprint), every location kept.
 * Redaction happens here and only here, so no plugin ever sees or writes a raw value by accident:
 * that includes what a layer cache remembers of a match (rememberMatch).
 */
import type { Disposition, Filter, MatchContext, RememberedMatch } from './contracts.ts'
import { fingerprintOf, redactValue, snippetAround } from './redact.ts'
import type { Confidence, Finding, Occurrence } from './result.ts'
import type { RawMatch } from './text-scanner.ts'

const ACTIONABLE: Disposition = { disposition: 'actionable', reason: '' }

/** The first filter with an opinion decides; no opinion at all means actionable. */
export const classifyMatch = (filters: readonly Filter[], context: MatchContext): Disposition => {
  for (const filter of filters) {
    const verdict = filter.classify(context)
    if (verdict) return verdict
  }
  return ACTIONABLE
}

/**
 * What a scan knows of a match in a file that the redacted result needs: the raw match as the text
 * scanner found it, or a layer cache's memory of it (already redacted, fingerprinted and judged).
 */
export type DraftMatch = RawMatch | RememberedMatch

export const isRememberedMatch = (match: DraftMatch): match is RememberedMatch => 'fingerprint' in match

/**
 * What a layer cache may keep of a match in a file: never the value or the line, but the
 * fingerprint, the redacted value and snippet exactly as a result would show them, and the filters'
 * verdicts for the file in the final image and for the file deleted by a later layer (which one
 * holds depends on the manifest that reuses the layer).
 */
export const rememberMatch = (filters: readonly Filter[], match: RawMatch & { path: string; entryPath: string }, fingerprintKey?: string): RememberedMatch => {
  const verdictAs = (sourceType: 'file_final' | 'file_deleted_layer'): Disposition => {
    const { disposition, reason } = classifyMatch(filters, { detectorId: match.detectorId, confidence: match.confidence, value: match.value, sourceType, path: match.path, key: match.key, line: match.line })
    return { disposition, reason }
  }
  return {
    detectorId: match.detectorId,
    confidence: match.confidence,
    key: match.key,
    path: match.path,
    entryPath: match.entryPath,
    lineNumber: match.lineNumber,
    start: match.start,
    end: match.end,
    fingerprint: fingerprintOf(match.value, fingerprintKey),
    redactedValue: redactValue(match.value),
    contextSnippet: snippetAround(match.line, match.lineStart, match.lineEnd, redactValue(match.value)),
    verdicts: { file_final: verdictAs('file_final'), file_deleted_layer: verdictAs('file_deleted_layer') },
  }
}

/** An occurrence before redaction: the match and the fields the pipeline has worked out. */
export interface OccurrenceDraft {
  match: DraftMatch
  manifestDigest: string
  fields: Omit<Occurrence, 'context_snippet' | 'value' | 'raw_context_snippet' | 'detector_name' | 'confidence' | 'key' | 'line_number' | 'match_start' | 'match_end'>
}

export interface AssembleOptions {
  persistRawSecrets: boolean
  fingerprintKey?: string
  seenAt: string
}

const CONFIDENCE_RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 }

export const toOccurrence = (draft: OccurrenceDraft, options: AssembleOptions): Occurrence => {
  const { match, fields } = draft
  // field order is what readers of the JSON see: detector first, location, then raw fields last
  const occurrence: Occurrence = {
    detector_name: match.detectorId,
    confidence: match.confidence,
    disposition: fields.disposition,
    disposition_reason: fields.disposition_reason,
    source_type: fields.source_type,
    platform: fields.platform,
    file_path: fields.file_path,
    layer_digest: fields.layer_digest,
    layer_index: fields.layer_index,
    build_step: fields.build_step,
    key: match.key,
    line_number: match.lineNumber,
    match_start: match.start,
    match_end: match.end,
    source_location: fields.source_location,
    context_snippet: isRememberedMatch(match) ? match.contextSnippet : snippetAround(match.line, match.lineStart, match.lineEnd, redactValue(match.value)),
    present_in_final_image: fields.present_in_final_image,
  }
  // a remembered match has no raw value to give (the pipeline remembers none when raw values are wanted)
  if (options.persistRawSecrets && !isRememberedMatch(match)) {
    occurrence.value = match.value
    occurrence.raw_context_snippet = snippetAround(match.line, match.lineStart, match.lineEnd, match.value)
  }
  return occurrence
}

const redactedValueOf = (match: DraftMatch): string => (isRememberedMatch(match) ? match.redactedValue : redactValue(match.value))

/** Groups drafts into findings, actionable and suppressed, in a stable order. */
export const assembleFindings = (drafts: OccurrenceDraft[], options: AssembleOptions): Finding[] => {
  const groups = new Map<string, { drafts: OccurrenceDraft[]; fingerprint: string }>()
  for (const draft of drafts) {
    const { match } = draft
    const fingerprint = isRememberedMatch(match) ? match.fingerprint : fingerprintOf(match.value, options.fingerprintKey)
    const id = `${draft.manifestDigest}\u0000${fingerprint}`
    const group = groups.get(id) ?? { drafts: [], fingerprint }
    group.drafts.push(draft)
    groups.set(id, group)
  }
  const findings: Finding[] = []
  for (const { drafts: members, fingerprint } of groups.values()) {
    const occurrences = dedupeOccurrences(members.map((draft) => toOccurrence(draft, options)))
    const actionable = occurrences.filter((occurrence) => occurrence.disposition === 'actionable')
    // the finding speaks for its strongest actionable occurrence, else its strongest suppressed one
    const lead = [...(actionable.length > 0 ? actionable : occurrences)].sort(
      (a, b) => CONFIDENCE_RANK[b.confidence] - CONFIDENCE_RANK[a.confidence],
    )[0]
    const finding: Finding = {
      detector_name: lead.detector_name,
      confidence: lead.confidence,
      disposition: lead.disposition,
      disposition_reason: lead.disposition_reason,
      manifest_digest: members[0].manifestDigest,
      fingerprint,
      redacted_value: redactedValueOf(members[0].match),
      occurrence_count: occurrences.length,
      actionable_occurrence_count: actionable.length,
      suppressed_occurrence_count: occurrences.length - actionable.length,
      first_seen_at: options.seenAt,
      last_seen_at: options.seenAt,
      occurrences,
    }
    const raw = options.persistRawSecrets ? members.map((draft) => draft.match).find((match): match is RawMatch => !isRememberedMatch(match)) : undefined
    if (raw) finding.value = raw.value
    findings.push(finding)
  }
  return findings.sort(
    (a, b) =>
      CONFIDENCE_RANK[b.confidence] - CONFIDENCE_RANK[a.confidence] ||
      a.detector_name.localeCompare(b.detector_name) ||
      a.fingerprint.localeCompare(b.fingerprint),
  )
}

/** The same place reported twice (a layer shared by two paths of the scan) counts once. */
const dedupeOccurrences = (occurrences: Occurrence[]): Occurrence[] => {
  const seen = new Set<string>()
  return occurrences.filter((occurrence) => {
    const id = [occurrence.platform, occurrence.layer_digest, occurrence.file_path, occurrence.source_type, occurrence.key, occurrence.line_number, occurrence.match_start].join('\u0000')
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
}
