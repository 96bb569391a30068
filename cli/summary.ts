/**
 * The human-readable scan report: what was scanned, then each finding with where it is, which
 * build step wrote it and whether it is still in the final image.
 */
import type { Finding, Occurrence, ScanResult } from '../core/result.ts'
import { cleanStep, humanSize, shortDigest, truncate } from './format.ts'

const where = (occurrence: Occurrence): string => {
  if (occurrence.layer_index < 0) return `image config, ${occurrence.source_type} ${occurrence.key}`.trim()
  return `layer ${occurrence.layer_index} (${shortDigest(occurrence.layer_digest)}) /${occurrence.file_path}:${occurrence.line_number}`
}

const state = (occurrence: Occurrence): string => {
  if (occurrence.source_type === 'file_deleted_layer') return 'deleted or replaced by a later layer, still in the image\'s layers'
  if (occurrence.source_type === 'file_final') return 'in the final filesystem'
  return `in the image ${occurrence.source_type === 'config' ? 'config' : occurrence.source_type}`
}

const describeFinding = (finding: Finding, lines: string[], maxOccurrences: number) => {
  lines.push(`  ${finding.confidence.toUpperCase().padEnd(6)} ${finding.detector_name}  ${finding.redacted_value}  (${finding.occurrence_count} place${finding.occurrence_count === 1 ? '' : 's'})`)
  if (finding.disposition === 'suppressed') lines.push(`         suppressed: ${finding.disposition_reason}`)
  for (const occurrence of finding.occurrences.slice(0, maxOccurrences)) {
    lines.push(`         ${where(occurrence)}${occurrence.platform ? ` [${occurrence.platform}]` : ''}`)
    lines.push(`           ${state(occurrence)}`)
    if (occurrence.build_step) lines.push(`           step: ${truncate(cleanStep(occurrence.build_step), 100)}`)
    if (occurrence.context_snippet) lines.push(`           ${truncate(occurrence.context_snippet, 110)}`)
  }
  if (finding.occurrences.length > maxOccurrences) lines.push(`         … and ${finding.occurrences.length - maxOccurrences} more`)
}

export const renderSummary = (result: ScanResult, options: { location?: string; verbose?: boolean } = {}): string => {
  const lines: string[] = []
  const seconds = (result.duration_ms / 1000).toFixed(1)
  lines.push(`${result.scanner.name} ${result.scanner.version} · ${result.requested_reference} · ${result.status} in ${seconds}s`)
  if (result.resolved_reference && result.resolved_reference !== result.requested_reference) lines.push(`resolved to ${result.resolved_reference}`)
  if (result.mode === 'repository') {
    const failed = result.tag_results.filter((tag) => tag.status === 'failed')
    lines.push(`${result.tag_results.length} tag${result.tag_results.length === 1 ? '' : 's'} -> ${result.target_count} image${result.target_count === 1 ? '' : 's'} (each digest scanned once)${failed.length ? `, ${failed.length} failed: ${failed.slice(0, 10).map((tag) => tag.tag).join(', ')}${failed.length > 10 ? ', …' : ''}` : ''}`)
  }
  for (const target of result.targets) {
    if (result.mode === 'repository') lines.push(`  ${shortDigest(target.digest)} ${truncate(target.tags.join(', '), 90)}`)
    for (const platform of target.platform_results) {
      lines.push(
        `  ${platform.platform || 'image'} ${shortDigest(platform.manifest_digest)}: ${platform.layers_scanned}/${platform.layer_count} layers, ${platform.files_scanned} files, ${humanSize(platform.bytes_scanned)} scanned${platform.status === 'completed' ? '' : ` (${platform.status}${platform.error ? `: ${platform.error}` : ''})`}`,
      )
    }
  }
  lines.push('')
  if (result.total_findings === 0) lines.push('No actionable findings.')
  else lines.push(`${result.total_findings} actionable finding${result.total_findings === 1 ? '' : 's'} (${result.unique_fingerprints} unique secret${result.unique_fingerprints === 1 ? '' : 's'}):`)
  const limit = options.verbose ? Number.POSITIVE_INFINITY : 3
  for (const finding of result.findings) describeFinding(finding, lines, limit)
  if (result.suppressed_findings_count > 0) {
    lines.push('')
    lines.push(`${result.suppressed_findings_count} suppressed (likely test fixtures, examples or placeholders):`)
    for (const finding of result.suppressed_findings) describeFinding(finding, lines, options.verbose ? limit : 1)
  }
  const notable = result.diagnostics.filter((diagnostic) => diagnostic.code !== 'attestation_skipped')
  if (notable.length > 0) {
    lines.push('')
    lines.push('Diagnostics:')
    for (const diagnostic of notable) lines.push(`  ${diagnostic.code}: ${diagnostic.message}`)
  }
  if (result.coverage.limits_hit.length > 0) lines.push(`Limits reached: ${result.coverage.limits_hit.join(', ')} — results are partial.`)
  if (options.location) {
    lines.push('')
    lines.push(`Findings file: ${options.location}`)
  }
  return `${lines.join('\n')}\n`
}
