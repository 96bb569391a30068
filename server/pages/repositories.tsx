/** @jsxImportSource hono/jsx */
/** The home page: every repository scanned so far, and the scan form. */
import type { Page, RepositorySummary } from '../../plugins/sinks/finding-queries.ts'
import { Layout, when } from './layout.tsx'
import { repositoryHref } from './links.ts'
import { ScanForm, type ScanFormValues } from './scan.tsx'

export const RepositoriesPage = (props: { page: Page<RepositorySummary>; form?: ScanFormValues }) => (
  <Layout title="Repositories">
    <h1>Repositories</h1>
    <p class="lead">Images scanned by this server, with their leaked secrets. Values are always shown redacted.</p>
    <ScanForm {...(props.form ?? {})} />
    <h2>Scanned repositories</h2>
    {props.page.items.length === 0 ? (
      <p class="muted">Nothing scanned yet: start with the form above.</p>
    ) : (
      <table>
        <thead>
          <tr>
            <th>Repository</th>
            <th class="num">Actionable</th>
            <th class="num">Suppressed</th>
            <th class="num">Scans</th>
            <th>Last scanned</th>
          </tr>
        </thead>
        <tbody>
          {props.page.items.map((repository) => (
            <tr>
              <td>
                <a class="mono" href={repositoryHref(repository.registry, repository.name)}>
                  {repository.registry}/{repository.name}
                </a>
              </td>
              <td class={`num ${repository.actionable_findings > 0 ? 'actionable' : ''}`}>{repository.actionable_findings}</td>
              <td class="num muted">{repository.suppressed_findings}</td>
              <td class="num">{repository.scan_count}</td>
              <td>{when(repository.last_scanned_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    {props.page.total > props.page.offset + props.page.items.length || props.page.offset > 0 ? (
      <p class="pager">
        {props.page.offset > 0 ? <a href={`/?offset=${Math.max(0, props.page.offset - props.page.limit)}`}>← previous</a> : null}
        {props.page.total > props.page.offset + props.page.items.length ? <a href={`/?offset=${props.page.offset + props.page.limit}`}>next →</a> : null}
      </p>
    ) : null}
  </Layout>
)
