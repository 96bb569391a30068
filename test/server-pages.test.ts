/**
 * The web pages in a real browser: Debian's headless Chromium driven by playwright-core, against
 * `layerleak serve` with tokens on. Sign in, start a scan from the form, watch its page until the
 * findings appear, open one: its occurrences say where the secret sits and that a later layer
 * deleted it. Screenshots land in test-artifacts/ (kept by CI).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeAwsKeyPair, fakeGitHubToken } from '../cli/demo-image.ts'
import { buildImage, whiteout } from '../plugins/sources/image-builder.ts'
import { type ApiServer, startApiServer } from './support/api-server.ts'
import { pushImage, uniqueRepository } from './support/push.ts'

const CHROMIUM = '/usr/bin/chromium'
const artifacts = resolve(import.meta.dirname, '../test-artifacts')

describe('the web pages in headless Chromium', () => {
  const aws = fakeAwsKeyPair()
  const github = fakeGitHubToken()
  const token = randomBytes(24).toString('hex')
  let server: ApiServer
  let browser: Browser
  let page: Page
  let reference: string

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`)
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
    const registryHost = inject('registryHost')
    const repository = uniqueRepository('pages')
    await pushImage(registryHost, repository, image, ['1.0'])
    reference = `${registryHost}/${repository}:1.0`
    await mkdir(artifacts, { recursive: true })
    ;[server, browser] = await Promise.all([
      startApiServer('node', { LAYERLEAK_API_TOKENS: token, LAYERLEAK_ALLOWED_PRIVATE_REGISTRIES: '127.0.0.1' }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      }),
    ])
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('asks for the token, then shows the repositories and the scan form', async () => {
    await page.goto(server.url)
    expect(new URL(page.url()).pathname).toBe('/login')
    await page.fill('input[name=token]', 'not-the-token-at-all')
    await page.click('button[type=submit]')
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not valid')
    await page.fill('input[name=token]', token)
    await page.click('button[type=submit]')
    await page.waitForURL(`${server.url}/`)
    expect(await page.locator('h1').textContent()).toBe('Repositories')
    expect(await page.locator('form.scan input[name=reference]').count()).toBe(1)
  })

  it('refuses a scan of a metadata address from the form, saying why', async () => {
    await page.fill('input[name=reference]', '169.254.169.254/latest/meta-data:1')
    await page.click('form.scan button[type=submit]')
    const alert = await page.getByRole('alert').textContent()
    expect(alert).toContain('169.254.169.254 is not a public address')
    expect(await page.inputValue('input[name=reference]')).toBe('169.254.169.254/latest/meta-data:1')
    await page.screenshot({ path: join(artifacts, 'refused-scan.png'), fullPage: true })
  })

  it('starts a scan from the form and shows the findings as they arrive', async () => {
    await page.fill('input[name=reference]', reference)
    await page.click('form.scan button[type=submit]')
    await page.waitForURL(/\/scans\/[0-9a-f-]{36}$/)
    // the page refreshes itself while the scan runs
    await page.getByRole('heading', { name: /actionable finding/ }).waitFor({ timeout: 30_000 })
    expect(await page.locator('.badge.completed').count()).toBe(1)
    const row = page.locator('tr', { has: page.getByRole('link', { name: 'aws-access-key-id' }) })
    expect(await row.textContent()).toContain('/etc/app/config.yml:4')
    expect(await row.textContent()).toContain('deleted in a later layer')
    const html = await page.content()
    expect(html).not.toContain(aws.id)
    expect(html).not.toContain(aws.secret)
    expect(html).not.toContain(github)
    await page.screenshot({ path: join(artifacts, 'scan-page.png'), fullPage: true })
  })

  it('opens a finding with its occurrences: layer, path, line, build step, still in the final image', async () => {
    await page.getByRole('link', { name: 'aws-access-key-id' }).click()
    await page.waitForURL(/\/findings\/\d+$/)
    const occurrence = page.locator('table tbody tr').first()
    const text = await occurrence.textContent()
    expect(text).toContain('/etc/app/config.yml:4')
    expect(text).toContain('#1')
    expect(text).toContain('COPY config /etc/app # buildkit')
    expect(text).toContain('no: deleted by a later layer')
    expect(await page.content()).not.toContain(aws.id)
    await page.screenshot({ path: join(artifacts, 'finding-page.png'), fullPage: true })
  })

  it("lists the repository's findings and scans on its page", async () => {
    await page.locator('.facts a.mono').first().click()
    await page.waitForURL(/\/repositories\//)
    expect(await page.getByRole('link', { name: 'aws-access-key-id' }).count()).toBe(1)
    expect(await page.getByRole('link', { name: 'github-personal-access-token' }).count()).toBe(1)
    expect(await page.locator('h2', { hasText: 'Scans' }).count()).toBe(1)
    await page.screenshot({ path: join(artifacts, 'repository-page.png'), fullPage: true })
  })
})
