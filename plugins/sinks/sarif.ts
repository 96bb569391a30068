/**
 * SARIF 2.1.0 for code-scanning dashboards: one result per finding, one location per occurrence,
 * suppressed findings carried with their justification so dashboards can show or hide them.
 */
import { writeFile } from 'node:fs/promises'
import type { Sink } from '../../core/contracts.ts'
import type { Finding, Occurrence, ScanResult } from '../../core/result.ts'

const LEVEL = { high: 'error', medium: 'warning', low: 'note' } as const

const locationOf = (occurrence: Occurrence) => ({
  physicalLocation: {
    artifactLocation: {
      uri: occurrence.file_path || `image-config/${occurrence.source_type}/${occurrence.key}`,
      ...(occurrence.layer_digest ? { uriBaseId: occurrence.layer_digest.replace(':', '_') } : {}),
    },
    ...(occurrence.line_number > 0 ? { region: { startLine: occurrence.line_number, snippet: { text: occurrence.context_snippet } } } : {}),
  },
  message: { text: occurrence.source_location },
  properties: {
    layer_digest: occurrence.layer_digest,
    layer_index: occurrence.layer_index,
    build_step: occurrence.build_step,
    platform: occurrence.platform,
    source_type: occurrence.source_type,
    present_in_final_image: occurrence.present_in_final_image,
  },
})

const resultOf = (finding: Finding) => ({
  ruleId: finding.detector_name,
  level: LEVEL[finding.confidence],
  message: {
    text: `${finding.detector_name} secret ${finding.redacted_value} in ${finding.occurrence_count} place(s)${
      finding.occurrences.some((occurrence) => !occurrence.present_in_final_image) ? ', including layers where it was deleted later' : ''
    }`,
  },
  locations: finding.occurrences.slice(0, 100).map(locationOf),
  partialFingerprints: { 'layerleak/v1': finding.fingerprint },
  properties: { manifest_digest: finding.manifest_digest, confidence: finding.confidence, occurrence_count: finding.occurrence_count },
  ...(finding.disposition === 'suppressed' ? { suppressions: [{ kind: 'external', justification: finding.disposition_reason }] } : {}),
})

export const toSarif = (result: ScanResult) => {
  const all = [...result.findings, ...result.suppressed_findings]
  const ruleIds = [...new Set(all.map((finding) => finding.detector_name))].sort()
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: result.scanner.name,
            version: result.scanner.version,
            informationUri: 'https://www.npmjs.com/package/layerleak',
            rules: ruleIds.map((id) => ({ id, name: id, shortDescription: { text: `${id} secret` } })),
          },
        },
        originalUriBaseIds: Object.fromEntries(
          [...new Set(all.flatMap((finding) => finding.occurrences.map((occurrence) => occurrence.layer_digest)).filter(Boolean))].map((digest) => [
            digest.replace(':', '_'),
            { description: { text: `layer ${digest}` } },
          ]),
        ),
        results: all.map(resultOf),
        properties: { requested_reference: result.requested_reference, status: result.status, resolved_reference: result.resolved_reference },
      },
    ],
  }
}

export const sarifFileSink = (options: { path: string }): Sink => ({
  name: 'sarif',
  async write(result: ScanResult) {
    await writeFile(options.path, `${JSON.stringify(toSarif(result), null, 2)}\n`, { mode: 0o600 })
    return { location: options.path }
  },
})
