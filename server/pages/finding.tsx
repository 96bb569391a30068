/** @jsxImportSource hono/jsx */
/** One finding: what it is, where it was seen, and every occurrence with its layer, path, line and build step. */
import type { FindingDetail } from '../../plugins/sinks/finding-queries.ts'
import { Badge, Layout, shortDigest, when } from './layout.tsx'
import { repositoryHref } from './links.ts'

const where = (occurrence: FindingDetail['occurrences'][number]) => {
  if (occurrence.layer_index < 0) return `${occurrence.source_type}${occurrence.key ? ` ${occurrence.key}` : ''}`
  return `/${occurrence.file_path}${occurrence.line_number ? `:${occurrence.line_number}` : ''}`
}

export const FindingPage = ({ finding }: { finding: FindingDetail }) => (
  <Layout title={`${finding.detector_name} finding`}>
    <h1>
      {finding.detector_name} <Badge kind={finding.confidence} /> <Badge kind={finding.disposition} />
    </h1>
    <dl class="facts">
      <dt>Value (redacted)</dt>
      <dd>
        <code>{finding.redacted_value}</code>
      </dd>
      {finding.disposition === 'suppressed' ? (
        <>
          <dt>Suppressed because</dt>
          <dd>{finding.disposition_reason}</dd>
        </>
      ) : null}
      <dt>Manifest</dt>
      <dd>
        <code>{finding.manifest_digest}</code>
        {finding.platform ? ` (${finding.platform})` : ''}
      </dd>
      <dt>Fingerprint</dt>
      <dd>
        <code>{finding.fingerprint}</code>
      </dd>
      <dt>Seen</dt>
      <dd>
        {when(finding.first_seen_at)} to {when(finding.last_seen_at)}
      </dd>
      <dt>Repositories</dt>
      <dd>
        {finding.repositories.map((repository, i) => (
          <>
            {i > 0 ? ', ' : ''}
            <a class="mono" href={repositoryHref(repository.registry, repository.name)}>
              {repository.registry}/{repository.name}
            </a>
          </>
        ))}
      </dd>
    </dl>

    <h2>
      {finding.occurrence_count} occurrence{finding.occurrence_count === 1 ? '' : 's'}
    </h2>
    <table>
      <thead>
        <tr>
          <th>Location</th>
          <th>Layer</th>
          <th>Build step</th>
          <th>In final image</th>
        </tr>
      </thead>
      <tbody>
        {finding.occurrences.map((occurrence) => (
          <tr>
            <td>
              <code>{where(occurrence)}</code>
              {occurrence.context_snippet ? <pre class="snippet">{occurrence.context_snippet}</pre> : null}
            </td>
            <td>{occurrence.layer_index < 0 ? <span class="muted">config</span> : <code>{`#${occurrence.layer_index} ${shortDigest(occurrence.layer_digest)}`}</code>}</td>
            <td>
              <code>{occurrence.build_step || '—'}</code>
            </td>
            <td>{occurrence.present_in_final_image ? <span>yes</span> : <span class="deleted">no: deleted by a later layer, still in this one</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </Layout>
)
