/**
 * The HTTP API, spawned as users run it (`layerleak serve`, the built bin) under Node, Bun and
 * Deno: the same specs against each. Every server scans a fixture image on the real test
 * registry (allowlisted: it lives on loopback) and the results are read back through the list and
 * detail endpoints; the security specs (tokens, SSRF, limits, the scan bound) run against each too.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { z } from 'zod'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import { buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import {
  errorSchema,
  findingDetailSchema,
  findingPageSchema,
  healthSchema,
  readinessSchema,
  repositoryPageSchema,
  scanJobSchema,
  scanRunDetailSchema,
  scanRunPageSchema,
} from '../server/schemas.ts'
import { connectDatabase } from '../plugins/sinks/database.ts'
import { migrateUp, readMigrationFiles } from '../plugins/sinks/migrations.ts'
import { type ApiServer, runServeToExit, startApiServer } from './support/api-server.ts'
import { type HoldingRegistry, type Redirector, startHoldingRegistry, startRedirector, startTrap, type Trap } from './support/decoy-servers.ts'
import { createTestDatabase } from './support/postgres-server.ts'
import { pushImage, uniqueRepository } from './support/push.ts'
import type { Runtime } from './support/run-cli.ts'

const aws = fakeAwsKeyPair()
const github = fakeGitHubToken()
const token = randomBytes(24).toString('hex')

/** the pushed fixture: an AWS key pair in a file a later layer deletes, a GitHub token that stays */
const fixture = async (registryHost: string, name: string) => {
  const image = await buildImage({
    layers: [
      { createdBy: 'ADD rootfs.tar /', files: [{ path: 'etc/os-release', content: 'ID=fixture\n' }] },
      {
        createdBy: 'COPY config /etc/app # buildkit',
        files: [{ path: 'etc/app/config.yml', content: `app:\n  name: demo\naws:\n  access_key_id: ${aws.id}\n  secret_access_key: ${aws.secret}\n` }],
      },
      {
        createdBy: 'RUN /bin/sh -c rm /etc/app/config.yml # buildkit',
        files: [whiteout('etc/app/config.yml'), { path: 'home/app/.git-credentials', content: `https://ci:${github}@github.com\n` }],
      },
    ],
  })
  const repository = uniqueRepository(name)
  await pushImage(registryHost, repository, image, ['1.0', '1.1'])
  return { image, repository, reference: `${registryHost}/${repository}:1.0` }
}

const parse = <T extends z.ZodType>(schema: T, body: unknown): z.output<T> => {
  const parsed = schema.safeParse(body)
  if (!parsed.success) throw new Error(`response does not match its documented schema: ${parsed.error.message}\n${JSON.stringify(body).slice(0, 2000)}`)
  return parsed.data
}

const withoutSecrets = (text: string) => {
  expect(text).not.toContain(aws.secret)
  expect(text).not.toContain(aws.id)
  expect(text).not.toContain(github)
}

/** A fresh database on the test PostgreSQL server, migrated as an operator would (`migrate up`). */
const migratedServerDatabase = async (): Promise<string> => {
  const url = await createTestDatabase(inject('postgresUrl'))
  const database = await connectDatabase({ url })
  try {
    await migrateUp(database.db)
  } finally {
    await database.close()
  }
  return url
}

// Node and Bun keep their results in the embedded database, Deno in a PostgreSQL server
const DATABASE: Record<Runtime, 'embedded' | 'server'> = { node: 'embedded', bun: 'embedded', deno: 'server' }

for (const runtime of ['node', 'bun', 'deno'] as Runtime[]) {
  describe(`the HTTP API under ${runtime} (${DATABASE[runtime]} database)`, () => {
    const registryHost = inject('registryHost')
    let server: ApiServer
    let trap: Trap
    let redirector: Redirector
    let holding: HoldingRegistry
    let image: Awaited<ReturnType<typeof fixture>>

    const api = async (path: string, init: RequestInit & { auth?: string | null } = {}) => {
      const { auth = token, ...rest } = init
      const headers = new Headers(rest.headers)
      if (auth !== null) headers.set('authorization', `Bearer ${auth}`)
      const response = await fetch(`${server.url}${path}`, { ...rest, headers, redirect: 'manual' })
      const text = await response.text()
      return { status: response.status, headers: response.headers, text, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined }
    }
    const postScan = (body: unknown, query = '') => api(`/api/v1/scans${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const waitForScan = async (id: string) => {
      for (let i = 0; i < 300; i++) {
        const { body } = await api(`/api/v1/scans/${id}`)
        if (body.status !== 'queued' && body.status !== 'running') return parse(scanJobSchema, body)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`scan ${id} did not finish`)
    }

    beforeAll(async () => {
      ;[image, trap, holding] = await Promise.all([fixture(registryHost, `api-${runtime}`), startTrap(), startHoldingRegistry()])
      redirector = await startRedirector((path) => (path.includes('to-metadata') ? `http://169.254.169.254/latest/meta-data${path}` : `http://${trap.host}${path}`))
      server = await startApiServer(runtime, {
        ...(DATABASE[runtime] === 'server' ? { LAYERLEAK_DATABASE_URL: await migratedServerDatabase() } : {}),
        LAYERLEAK_API_TOKENS: token,
        LAYERLEAK_ALLOWED_PRIVATE_REGISTRIES: '127.0.0.1',
        LAYERLEAK_MAX_CONCURRENT_SCANS: '1',
        LAYERLEAK_MAX_QUEUED_SCANS: '1',
        LAYERLEAK_HTTP_TIMEOUT: '10s',
        LAYERLEAK_REGISTRY_REQUEST_ATTEMPTS: '1',
        // raw values reach the database: the API must still never return them
        LAYERLEAK_PERSIST_RAW_SECRETS: '1',
      })
    })

    afterAll(async () => {
      holding?.release()
      await Promise.all([trap?.close(), redirector?.close(), holding?.close()])
    })

    it('answers health and readiness without a token', async () => {
      const health = await api('/health', { auth: null })
      expect(health.status).toBe(200)
      expect(parse(healthSchema, health.body).status).toBe('ok')
      const ready = await api('/health/ready', { auth: null })
      expect(ready.status, ready.text).toBe(200)
      expect(parse(readinessSchema, ready.body)).toEqual({ status: 'ready', database: DATABASE[runtime], schema: 'current' })
    })

    it('refuses a missing or wrong token with 401, and sends pages to the login form', async () => {
      const missing = await api('/api/v1/repositories', { auth: null })
      expect(missing.status).toBe(401)
      expect(parse(errorSchema, missing.body).error.code).toBe('UNAUTHORIZED')
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/)
      const wrong = await api('/api/v1/repositories', { auth: `${token.slice(0, -1)}x` })
      expect(wrong.status).toBe(401)
      expect(wrong.headers.get('www-authenticate')).toContain('invalid_token')
      expect((await api('/openapi.json', { auth: null })).status).toBe(401)
      expect((await api('/api/v1/scans', { method: 'POST', auth: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reference: image.reference }) })).status).toBe(401)
      const page = await api('/', { auth: null })
      expect(page.status).toBe(303)
      expect(page.headers.get('location')).toBe('/login?next=%2F')
    })

    it('scans an image synchronously and answers with the stored scan run and the redacted result', async () => {
      const response = await postScan({ reference: image.reference })
      expect(response.status, response.text).toBe(200)
      const job = parse(scanJobSchema, response.body)
      expect(job).toMatchObject({ status: 'completed', reference: image.reference, error: null })
      expect(job.scan_run_id).toBeGreaterThan(0)
      const result = job.result!
      expect(result.manifest_count).toBe(1)
      const occurrences = result.findings.flatMap((finding) => finding.occurrences)
      expect(occurrences.find((o) => o.detector_name === 'aws-access-key-id')).toMatchObject({
        file_path: 'etc/app/config.yml',
        line_number: 4,
        layer_index: 1,
        layer_digest: image.image.layers[1].digest,
        build_step: 'COPY config /etc/app # buildkit',
        present_in_final_image: false,
      })
      expect(occurrences.find((o) => o.file_path === 'home/app/.git-credentials')).toMatchObject({ layer_index: 2, present_in_final_image: true })
      withoutSecrets(response.text)
    })

    it('reads the results back through the repository, scan and finding endpoints', async () => {
      const scanned = parse(scanJobSchema, (await postScan({ reference: image.reference })).body)
      const registry = `?registry=${encodeURIComponent(registryHost)}`

      const repositories = parse(repositoryPageSchema, (await api('/api/v1/repositories?limit=200')).body)
      const repository = repositories.items.find((item) => item.registry === registryHost && item.name === image.repository)
      expect(repository).toMatchObject({ actionable_findings: scanned.result!.total_findings })
      expect(repository!.scan_count).toBeGreaterThanOrEqual(2)

      const scans = parse(scanRunPageSchema, (await api(`/api/v1/repositories/${image.repository}/scans${registry}`)).body)
      expect(scans.items[0]).toMatchObject({ id: scanned.scan_run_id, status: 'completed', requested_reference: image.reference })

      const findings = parse(findingPageSchema, (await api(`/api/v1/repositories/${image.repository}/findings${registry}`)).body)
      expect(findings.total).toBe(scanned.result!.total_findings)
      const awsFinding = findings.items.find((finding) => finding.detector_name === 'aws-access-key-id')!
      expect(awsFinding.redacted_value).not.toBe(aws.id)

      const percentEncoded = await api(`/api/v1/repositories/${encodeURIComponent(image.repository)}/findings${registry}&disposition=all&limit=1`)
      const onePage = parse(findingPageSchema, percentEncoded.body)
      expect(onePage).toMatchObject({ limit: 1, offset: 0 })
      expect(onePage.items).toHaveLength(1)
      expect(onePage.total).toBeGreaterThanOrEqual(findings.total)

      const detail = await api(`/api/v1/findings/${awsFinding.id}`)
      const finding = parse(findingDetailSchema, detail.body)
      expect(finding.repositories).toContainEqual({ registry: registryHost, name: image.repository })
      expect(finding.occurrences[0]).toMatchObject({
        file_path: 'etc/app/config.yml',
        line_number: 4,
        layer_digest: image.image.layers[1].digest,
        build_step: 'COPY config /etc/app # buildkit',
        present_in_final_image: false,
      })

      const run = await api(`/api/v1/scans/${scanned.scan_run_id}`)
      expect(parse(scanRunDetailSchema, run.body)).toMatchObject({ scan_run_id: scanned.scan_run_id, storage_status: 'complete', result: { total_findings: scanned.result!.total_findings } })

      for (const text of [JSON.stringify(repositories), JSON.stringify(scans), JSON.stringify(findings), detail.text, run.text]) withoutSecrets(text)
      expect((await api(`/api/v1/repositories/${image.repository}/findings`)).status).toBe(404)
      expect((await api('/api/v1/findings/999999999')).status).toBe(404)
    })

    it('queues a scan with ?async=1 and shows its progress until it is done', async () => {
      const response = await postScan({ reference: image.reference, platform: 'linux/amd64' }, '?async=1')
      expect(response.status, response.text).toBe(202)
      const queued = parse(scanJobSchema, response.body)
      expect(queued).toMatchObject({ scan_run_id: null, result: null, platform: 'linux/amd64' })
      expect(['queued', 'running']).toContain(queued.status)
      expect(response.headers.get('location')).toBe(`/api/v1/scans/${queued.id}`)
      const done = await waitForScan(queued.id)
      expect(done.status).toBe('completed')
      expect(done.scan_run_id).toBeGreaterThan(0)
      expect(done.result!.total_findings).toBeGreaterThan(0)
    })

    it('sweeps every tag of a repository with all_tags', async () => {
      const sweep = await postScan({ reference: `${registryHost}/${image.repository}`, all_tags: true })
      expect(sweep.status, sweep.text).toBe(200)
      const { result } = parse(scanJobSchema, sweep.body)
      expect(result).toMatchObject({ mode: 'repository', status: 'completed', manifest_count: 1 })
      expect(result!.tag_results.map((tag) => tag.tag).sort()).toEqual(['1.0', '1.1'])
      const tagged = await postScan({ reference: image.reference, all_tags: true })
      expect(tagged.status).toBe(400)
      expect(tagged.body.error.message).toContain('all_tags sweeps a whole repository')
    })

    it('validates requests: unknown fields, bad values, oversized bodies, non-JSON, local sources', async () => {
      const unknown = await postScan({ reference: image.reference, force: true })
      expect(unknown.status).toBe(400)
      expect(unknown.body.error.message).toContain('"force"')
      expect((await postScan({ reference: image.reference, platform: 'linux' })).status).toBe(400)
      expect((await postScan({})).status).toBe(400)
      const big = await postScan({ reference: 'x'.repeat(70 * 1024) })
      expect(big.status).toBe(413)
      expect(parse(errorSchema, big.body).error.code).toBe('LIMIT_EXCEEDED')
      const form = await api('/api/v1/scans', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `reference=${image.reference}` })
      expect(form.status).toBe(415)
      for (const reference of ['oci:/var/lib/images', 'docker-archive:/tmp/image.tar', 'oci-archive:image.tar', './layout']) {
        const local = await postScan({ reference })
        expect(local.status, reference).toBe(400)
        expect(local.body.error.message).toContain('local source')
      }
      const crossSite = await api('/scans', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' }, body: `reference=${image.reference}` })
      expect(crossSite.status).toBe(403)
      expect((await api('/api/v1/repositories?limit=201')).status).toBe(400)
      expect((await api('/api/v1/repositories?sort=name')).status).toBe(400)
      expect((await api(`/api/v1/repositories/${image.repository}/findings?registry=${registryHost}&disposition=maybe`)).status).toBe(400)
    })

    it('refuses registry hosts on loopback, metadata and private addresses unless allowlisted', async () => {
      const registryPort = registryHost.split(':')[1]
      for (const reference of [`127.0.0.2:${registryPort}/x/y:1`, '169.254.169.254/latest/meta-data:1', `localhost:${registryPort}/${image.repository}:1.0`, '10.0.0.1/x/y:1', '[::1]:5000/x/y:1']) {
        const refused = await postScan({ reference })
        expect(refused.status, `${reference}: ${refused.text}`).toBe(403)
        expect(refused.body.error).toMatchObject({ code: 'DENIED' })
        expect(refused.body.error.message).toContain('not a public address')
      }
    })

    it('refuses a redirect to a loopback or metadata address in the middle of a scan', async () => {
      const toLoopback = parse(scanJobSchema, (await postScan({ reference: `${redirector.host}/to-trap/image:1` })).body)
      expect(toLoopback.status).toBe('failed')
      expect(JSON.stringify(toLoopback.result!.diagnostics)).toMatch(/refusing to fetch from 127\.0\.0\.2:\d+: 127\.0\.0\.2 is not a public address \(loopback\)/)
      const toMetadata = parse(scanJobSchema, (await postScan({ reference: `${redirector.host}/to-metadata/image:1` })).body)
      expect(toMetadata.status).toBe('failed')
      expect(JSON.stringify(toMetadata.result!.diagnostics)).toContain('169.254.169.254 is not a public address (cloud metadata)')
      expect(redirector.requests.length).toBeGreaterThan(0)
      expect(trap.requests).toEqual([])
    })

    it('runs a bounded number of scans: one more gets 429 with Retry-After', async () => {
      const running = await postScan({ reference: `${holding.host}/slow/image:1` }, '?async=1')
      expect(running.status).toBe(202)
      for (let i = 0; i < 100 && holding.held() === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(holding.held()).toBeGreaterThan(0)
      const waiting = await postScan({ reference: `${holding.host}/slow/image:2` }, '?async=1')
      expect(waiting.status).toBe(202)
      expect(parse(scanJobSchema, (await api(`/api/v1/scans/${waiting.body.id}`)).body).status).toBe('queued')

      const refused = await postScan({ reference: image.reference })
      expect(refused.status).toBe(429)
      expect(parse(errorSchema, refused.body).error.code).toBe('RATE_LIMITED')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)

      holding.release()
      expect((await waitForScan(running.body.id)).status).toBe('failed')
      expect((await waitForScan(waiting.body.id)).status).toBe('failed')
      expect((await postScan({ reference: image.reference })).status).toBe(200)
    })

    it('documents itself at /openapi.json, generated from the validation schemas', async () => {
      const { status, body } = await api('/openapi.json')
      expect(status).toBe(200)
      expect(body.openapi).toBe('3.1.0')
      expect(Object.keys(body.paths)).toEqual(
        expect.arrayContaining(['/health', '/api/v1/scans', '/api/v1/scans/{id}', '/api/v1/repositories', '/api/v1/repositories/{repository}/findings', '/api/v1/findings/{id}']),
      )
      const request = body.components.schemas.ScanRequest
      expect(request).toMatchObject({ type: 'object', required: ['reference'], additionalProperties: false })
      expect(Object.keys(request.properties)).toEqual(['reference', 'platform', 'all_tags'])
      const limit = body.paths['/api/v1/repositories/{repository}/findings'].get.parameters.find((parameter: { name: string }) => parameter.name === 'limit')
      expect(limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200 } })
    })

    it('stops cleanly on SIGTERM', async () => {
      const { code, signal, ms } = await server.stop()
      expect({ code, signal }, server.stderr()).toEqual({ code: 0, signal: null })
      expect(ms).toBeLessThan(8_000)
    })
  })
}

describe('layerleak serve on a server database whose schema is behind', () => {
  it('refuses to start and says to run migrate up', async () => {
    const url = await createTestDatabase(inject('postgresUrl'))
    const run = await runServeToExit('node', { LAYERLEAK_DATABASE_URL: url })
    expect(run.code).toBe(1)
    expect(run.stdout).not.toContain('listening')
    const pending = (await readMigrationFiles()).map((file) => `${String(file.version).padStart(4, '0')}_${file.name}`)
    expect(run.stderr).toContain(`is out of date: ${pending.length} migration${pending.length === 1 ? '' : 's'} pending (${pending.join(', ')})`)
    expect(run.stderr).toContain('layerleak migrate up')
  })
})
