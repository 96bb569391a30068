/** @jsxImportSource hono/jsx */
/** A repository: its scan runs, newest first, and its findings (actionable, suppressed or all). */
import type { Page, RepositorySummary, ScanRunSummary, StoredFinding } from '../../plugins/sinks/finding-queries.ts'
import { Badge, Layout, shortDigest, when } from './layout.tsx'
import { findingHref, repositoryHref, scanHref } from './links.ts'

export interface RepositoryPageProps {
  repository: RepositorySummary
  scans: Page<ScanRunSummary>
  findings: Page<StoredFinding>
  disposition: 'actionable' | 'suppressed' | 'all'
}

export const RepositoryPage = ({ repository, scans, findings, disposition }: RepositoryPageProps) => {
  const href = (query: Record<string, string | number | undefined>) => repositoryHref(repository.registry, repository.name, query)
  return (
    <Layout title={`${repository.registry}/${repository.name}`}>
      <h1 class="mono">
        {repository.registry}/{repository.name}
      </h1>
      <p class="lead">
        {repository.actionable_findings} actionable and {repository.suppressed_findings} suppressed findings across {repository.scan_count} scan
        {repository.scan_count === 1 ? '' : 's'}; last scanned {when(repository.last_scanned_at)}.
      </p>

      <h2>Findings</h2>
      <p class="tabs">
        {(['actionable', 'suppressed', 'all'] as const).map((kind) =>
          kind === disposition ? <span class="current">{kind}</span> : <a href={href({ disposition: kind })}>{kind}</a>,
        )}
      </p>
      {findings.items.length === 0 ? (
        <p class="muted">No {disposition === 'all' ? '' : `${disposition} `}findings.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Detector</th>
              <th>Confidence</th>
              <th>Value (redacted)</th>
              <th>Platform</th>
              <th>Manifest</th>
              <th class="num">Occurrences</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {findings.items.map((finding) => (
              <tr>
                <td>
                  <a href={findingHref(finding.id)}>{finding.detector_name}</a>
                  {finding.disposition === 'suppressed' ? <span class="muted"> (suppressed: {finding.disposition_reason})</span> : null}
                </td>
                <td>
                  <Badge kind={finding.confidence} />
                </td>
                <td>
                  <code>{finding.redacted_value}</code>
                </td>
                <td>{finding.platform ?? ''}</td>
                <td>
                  <code>{shortDigest(finding.manifest_digest)}</code>
                </td>
                <td class="num">{finding.occurrence_count}</td>
                <td>{when(finding.last_seen_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {findings.total > findings.offset + findings.items.length || findings.offset > 0 ? (
        <p class="pager">
          {findings.offset > 0 ? <a href={href({ disposition, offset: Math.max(0, findings.offset - findings.limit) })}>← previous</a> : null}
          <span class="muted">
            {findings.offset + 1}–{findings.offset + findings.items.length} of {findings.total}
          </span>
          {findings.total > findings.offset + findings.items.length ? <a href={href({ disposition, offset: findings.offset + findings.limit })}>next →</a> : null}
        </p>
      ) : null}

      <h2>Scans</h2>
      <table>
        <thead>
          <tr>
            <th>Run</th>
            <th>Reference</th>
            <th>Status</th>
            <th class="num">Actionable</th>
            <th class="num">Suppressed</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {scans.items.map((run) => (
            <tr>
              <td>
                <a href={scanHref(run.id)}>#{run.id}</a>
              </td>
              <td>
                <code>{run.requested_reference}</code>
              </td>
              <td>
                <Badge kind={run.status} />
              </td>
              <td class="num">{run.total_findings}</td>
              <td class="num muted">{run.suppressed_findings_count}</td>
              <td>{when(run.started_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  )
}
