/**
 * `layerleak scan --namespace <org>`: every repository of a Docker Hub namespace (Hub's API) or of a
 * registry prefix (`/v2/_catalog`), each swept with --all-tags semantics. One result and one
 * findings file per repository, one layer cache for them all (an organisation's images share their
 * base layers), and a combined report on stdout. The exit code is the worst of the repositories',
 * ranked as one scan ranks its outcomes: error (1), findings (2), incomplete (3), clean (0).
 */
import { writeFile } from 'node:fs/promises'
import { LayerleakError, toLayerleakError } from '../core/errors.ts'
import type { LayerScanOutcome } from '../core/layer-scanner.ts'
import type { Confidence, ScanResult, ScanStatus } from '../core/result.ts'
import { toSarif } from '../plugins/sinks/sarif.ts'
import { namespaceRepositories, parseNamespace } from '../plugins/sources/registry-catalog.ts'
import type { RegistryClient } from '../plugins/sources/registry-client.ts'
import { ExitCode, exitCodeFor } from './exit-codes.ts'
import { shortDigest } from './format.ts'
import type { ScanEnvironment } from './scan-environment.ts'

export type ScanOne = (
  reference: string,
  sweep: boolean,
  layerCache?: Map<string, Promise<LayerScanOutcome>>,
) => Promise<{ result: ScanResult; location?: string }>

export interface NamespaceSession {
  environment: ScanEnvironment
  scanOne: ScanOne
  format: 'summary' | 'json' | 'sarif'
  failOn: Confidence | 'never'
  allowPartial: boolean
  output?: string
  verbose: boolean
}

export interface RepositoryOutcome {
  repository: string
  status: ScanStatus
  exit_code: number
  tags: number
  failed_tags: number
  targets: number
  total_findings: number
  suppressed_findings: number
  findings_file?: string
  error?: string
}

export interface NamespaceReport {
  namespace: string
  /** `hub`: Docker Hub's API; `catalog`: the registry's /v2/_catalog */
  listing: 'hub' | 'catalog'
  status: ScanStatus
  exit_code: number
  duration_ms: number
  repositories: RepositoryOutcome[]
  total_findings: number
  suppressed_findings_count: number
  /** set when the listing stopped early: the repositories listed before are still reported */
  listing_error?: string
}

/** worst first: one scan ranks a failure over findings over incomplete coverage */
const SEVERITY: readonly number[] = [ExitCode.error, ExitCode.findings, ExitCode.incomplete, ExitCode.clean]
export const worstExitCode = (codes: readonly number[]): number => SEVERITY.find((code) => codes.includes(code)) ?? ExitCode.clean

const outcomeOf = (result: ScanResult, exitCode: number, location: string | undefined): RepositoryOutcome => {
  const failure = result.diagnostics.find((diagnostic) => diagnostic.code === 'resolve_failed')
  return {
    repository: result.repository || result.requested_reference,
    status: result.status,
    exit_code: exitCode,
    tags: result.tag_results.length,
    failed_tags: result.tag_results.filter((tag) => tag.status === 'failed').length,
    targets: result.target_count,
    total_findings: result.total_findings,
    suppressed_findings: result.suppressed_findings_count,
    ...(location ? { findings_file: location } : {}),
    ...(failure ? { error: failure.message } : {}),
  }
}

const registryClientOf = (environment: ScanEnvironment): RegistryClient => {
  const source = environment.sources.find((candidate) => candidate.name === 'registry') as { client?: RegistryClient } | undefined
  if (!source?.client) throw new LayerleakError('INVALID_CONFIG', '--namespace needs the built-in registry source, and the config replaced it')
  return source.client
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`

export const renderNamespaceReport = (report: NamespaceReport, results: readonly ScanResult[], verbose: boolean): string => {
  const lines: string[] = []
  lines.push(`namespace ${report.namespace} · ${plural(report.repositories.length, 'repository', 'repositories')} · ${report.status} in ${(report.duration_ms / 1000).toFixed(1)}s`)
  const width = Math.max(0, ...report.repositories.map((repository) => repository.repository.length))
  for (const repository of report.repositories) {
    const images = `${plural(repository.tags, 'tag')} → ${plural(repository.targets, 'image')}${repository.failed_tags ? ` (${repository.failed_tags} tags failed)` : ''}`
    lines.push(`  ${repository.repository.padEnd(width)}  ${repository.status.padEnd(9)}  ${images}  ${plural(repository.total_findings, 'finding')}`)
    if (repository.error) lines.push(`    ${repository.error}`)
    if (repository.findings_file) lines.push(`    findings file: ${repository.findings_file}`)
  }
  for (const result of results) {
    if (result.total_findings === 0) continue
    lines.push('')
    lines.push(`${result.repository}:`)
    for (const finding of verbose ? result.findings : result.findings.slice(0, 10)) {
      const target = result.targets.find((candidate) => candidate.platform_results.some((platform) => platform.manifest_digest === finding.manifest_digest))
      const tags = target?.tags.length ? ` tags ${target.tags.slice(0, 3).join(', ')}${target.tags.length > 3 ? ` (+${target.tags.length - 3})` : ''}` : ''
      lines.push(`  ${finding.confidence.toUpperCase().padEnd(6)} ${finding.detector_name}  ${finding.redacted_value}  image ${shortDigest(finding.manifest_digest)}${tags}`)
    }
    if (!verbose && result.findings.length > 10) lines.push(`  … and ${result.findings.length - 10} more (see the findings file)`)
  }
  lines.push('')
  if (report.listing_error) lines.push(`The listing stopped early: ${report.listing_error}`)
  const withFindings = report.repositories.filter((repository) => repository.total_findings > 0).length
  lines.push(
    report.total_findings === 0
      ? 'No actionable findings.'
      : `${plural(report.total_findings, 'actionable finding')} in ${plural(withFindings, 'repository', 'repositories')}.`,
  )
  return `${lines.join('\n')}\n`
}

export const runNamespaceScan = async (namespace: string, session: NamespaceSession): Promise<{ exitCode: number; report: NamespaceReport; results: ScanResult[] }> => {
  const started = Date.now()
  const { environment, format } = session
  const spec = parseNamespace(namespace)
  const client = registryClientOf(environment)
  // shared by every repository: an organisation's images share base layers, each is read once
  const layerCache = new Map<string, Promise<LayerScanOutcome>>()
  const results: ScanResult[] = []
  const outcomes: RepositoryOutcome[] = []
  let listingError: LayerleakError | undefined
  const listing = namespaceRepositories(spec, {
    client,
    hubApiUrl: environment.settings.hubApiUrl,
    pageSize: environment.settings.tagPageSize,
    maxResponseBytes: environment.limits.maxTagResponseBytes,
  })
  try {
    for await (const repository of listing) {
      environment.logger.info(`sweeping ${repository}`)
      const { result, location } = await session.scanOne(repository, true, layerCache)
      results.push(result)
      outcomes.push(outcomeOf(result, exitCodeFor(result, { failOn: session.failOn, allowPartial: session.allowPartial }), location))
    }
  } catch (error) {
    listingError = toLayerleakError(error)
    // nothing listed at all: the namespace itself is the problem
    if (outcomes.length === 0) throw listingError
  }
  if (outcomes.length === 0) throw new LayerleakError('NOT_FOUND', `namespace ${namespace} has no repositories`)

  const codes = outcomes.map((outcome) => outcome.exit_code)
  if (listingError && !session.allowPartial) codes.push(ExitCode.incomplete)
  const statuses = outcomes.map((outcome) => outcome.status)
  const status: ScanStatus = statuses.every((one) => one === 'failed') ? 'failed' : listingError || statuses.some((one) => one !== 'completed') ? 'partial' : 'completed'
  const report: NamespaceReport = {
    namespace,
    listing: spec.kind,
    status,
    exit_code: worstExitCode(codes),
    duration_ms: Date.now() - started,
    repositories: outcomes,
    total_findings: outcomes.reduce((sum, outcome) => sum + outcome.total_findings, 0),
    suppressed_findings_count: outcomes.reduce((sum, outcome) => sum + outcome.suppressed_findings, 0),
    ...(listingError ? { listing_error: listingError.message } : {}),
  }

  let text: string
  if (format === 'summary') text = renderNamespaceReport(report, results, session.verbose)
  else if (format === 'json') text = `${JSON.stringify(report, null, 2)}\n`
  else {
    // one SARIF run per repository
    const logs = results.map((result) => toSarif(result) as { runs: unknown[] } & Record<string, unknown>)
    text = `${JSON.stringify({ ...(logs[0] ?? {}), runs: logs.flatMap((log) => log.runs) }, null, 2)}\n`
  }
  if (session.output && format !== 'summary') await writeFile(session.output, text, { mode: 0o600 })
  else process.stdout.write(text)
  return { exitCode: report.exit_code, report, results }
}
