/** @jsxImportSource hono/jsx */
/** The scan form, and a scan's page: live status while it runs, then what it found. */
import type { ScanResult } from '../../core/result.ts'
import { Badge, Layout, shortDigest, when } from './layout.tsx'
import { findingHref, repositoryHref } from './links.ts'

export interface ScanFormValues {
  reference?: string
  platform?: string
  error?: string
}

export const ScanForm = (props: ScanFormValues) => (
  <>
    <h2 id="scan">Scan an image</h2>
    {props.error ? (
      <p class="error" role="alert">
        {props.error}
      </p>
    ) : null}
    <form class="scan" method="post" action="/scans">
      <label>
        Image reference
        <input class="reference" type="text" name="reference" required placeholder="alpine:3.20 or registry.example.com/team/app:1.2" value={props.reference ?? ''} />
      </label>
      <label>
        Platform (optional)
        <input type="text" name="platform" placeholder="linux/amd64" value={props.platform ?? ''} />
      </label>
      <button type="submit">Scan</button>
    </form>
  </>
)

export interface ScanView {
  /** the job id, or the scan run number */
  id: string | number
  status: string
  reference: string
  queued_at?: string | null
  started_at?: string | null
  finished_at?: string | null
  scan_run_id: number | null
  error: { code: string; message: string } | null
  result: ScanResult | null
}

const FindingRows = (props: { result: ScanResult; findingIds: Map<string, number>; suppressed?: boolean }) => {
  const findings = props.suppressed ? props.result.suppressed_findings : props.result.findings
  return (
    <table>
      <thead>
        <tr>
          <th>Detector</th>
          <th>Confidence</th>
          <th>Value (redacted)</th>
          <th>Where</th>
          <th class="num">Occurrences</th>
        </tr>
      </thead>
      <tbody>
        {findings.map((finding) => {
          const id = props.findingIds.get(`${finding.manifest_digest}\u0000${finding.fingerprint}`)
          const first = finding.occurrences[0]
          return (
            <tr>
              <td>{id ? <a href={findingHref(id)}>{finding.detector_name}</a> : finding.detector_name}</td>
              <td>
                <Badge kind={finding.confidence} />
              </td>
              <td>
                <code>{finding.redacted_value}</code>
              </td>
              <td>
                {first ? <code>{first.file_path ? `/${first.file_path}${first.line_number ? `:${first.line_number}` : ''}` : `${first.source_type} ${first.key}`}</code> : null}
                {first && !first.present_in_final_image ? <span class="deleted"> deleted in a later layer</span> : null}
              </td>
              <td class="num">{finding.occurrence_count}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

export const ScanPage = (props: { view: ScanView; findingIds: Map<string, number> }) => {
  const { view } = props
  const running = view.status === 'queued' || view.status === 'running'
  const result = view.result
  const repository = result && result.repository ? { registry: result.registry, name: result.repository.startsWith(`${result.registry}/`) ? result.repository.slice(result.registry.length + 1) : result.repository } : undefined
  return (
    <Layout title={`Scan of ${view.reference}`} refreshSeconds={running ? 1 : undefined}>
      <h1>
        Scan of <code>{view.reference}</code>
      </h1>
      <p class="lead">
        Status: <Badge kind={view.status} />
        {running ? <span class="muted"> — this page refreshes itself until the scan is done</span> : null}
      </p>
      <dl class="facts">
        <dt>Queued</dt>
        <dd>{when(view.queued_at)}</dd>
        <dt>Started</dt>
        <dd>{when(view.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{when(view.finished_at)}</dd>
        {view.scan_run_id ? (
          <>
            <dt>Scan run</dt>
            <dd>{view.scan_run_id}</dd>
          </>
        ) : null}
        {repository ? (
          <>
            <dt>Repository</dt>
            <dd>
              <a href={repositoryHref(repository.registry, repository.name)}>
                {repository.registry}/{repository.name}
              </a>
            </dd>
          </>
        ) : null}
        {result ? (
          <>
            <dt>Resolved</dt>
            <dd>
              <code>{result.resolved_reference}</code>
            </dd>
            <dt>Coverage</dt>
            <dd>
              {result.coverage.layers_scanned} of {result.coverage.layers_total} layers, {result.coverage.files_scanned} files
              {result.coverage.layers_failed ? <span class="failed">, {result.coverage.layers_failed} layers failed</span> : null}
            </dd>
          </>
        ) : null}
      </dl>
      {view.error ? (
        <p class="error" role="alert">
          {view.error.code}: {view.error.message}
        </p>
      ) : null}
      {result && result.status === 'failed'
        ? result.diagnostics
            .filter((diagnostic) => diagnostic.code.endsWith('_failed'))
            .map((diagnostic) => (
              <p class="error" role="alert">
                {diagnostic.message}
              </p>
            ))
        : null}
      {result ? (
        <>
          <h2>
            {result.total_findings} actionable finding{result.total_findings === 1 ? '' : 's'}
          </h2>
          {result.findings.length > 0 ? <FindingRows result={result} findingIds={props.findingIds} /> : <p class="muted">No actionable secrets found.</p>}
          {result.suppressed_findings.length > 0 ? (
            <>
              <h2>{result.suppressed_findings_count} suppressed (likely test fixtures or placeholders)</h2>
              <FindingRows result={result} findingIds={props.findingIds} suppressed />
            </>
          ) : null}
          {result.targets.length > 0 ? (
            <p class="muted">
              Manifests: {result.targets.flatMap((target) => target.platform_results.map((platform) => `${platform.platform || 'image'} ${shortDigest(platform.manifest_digest)}`)).join(', ')}
            </p>
          ) : null}
        </>
      ) : null}
    </Layout>
  )
}
