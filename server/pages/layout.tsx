/** @jsxImportSource hono/jsx */
/** The frame of every page: a header with the navigation, the stylesheet, nothing else to load. */
import type { Child } from 'hono/jsx'

export const Layout = (props: { title: string; refreshSeconds?: number; children?: Child }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {props.refreshSeconds ? <meta http-equiv="refresh" content={String(props.refreshSeconds)} /> : null}
      <title>{`${props.title} · layerleak`}</title>
      <link rel="stylesheet" href="/assets/style.css" />
    </head>
    <body>
      <header>
        <nav>
          <a class="brand" href="/">
            layerleak
          </a>
          <a href="/">Repositories</a>
          <a href="/#scan">Scan an image</a>
          <a href="/openapi.json">API</a>
        </nav>
      </header>
      <main>{props.children}</main>
    </body>
  </html>
)

export const ErrorPage = (props: { status: number; message: string }) => (
  <Layout title={`Error ${props.status}`}>
    <h1>{props.status === 404 ? 'Not found' : `Error ${props.status}`}</h1>
    <p class="error">{props.message}</p>
    <p>
      <a href="/">Back to the repositories</a>
    </p>
  </Layout>
)

/** `sha256:0123456789ab…` */
export { shortDigest } from '../../core/digest.ts'

export const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—')

export const Badge = (props: { kind: string; children?: Child }) => <span class={`badge ${props.kind}`}>{props.children ?? props.kind}</span>
