import { describe, expect, it } from 'vitest'
import { chooseTarget } from '../cli/explorer-target.ts'
import { readLayersMetadata } from '../cli/explorer-io.ts'
import { describeImage, renderLayersText } from '../cli/layers.ts'
import { analyzeLayers } from '../core/layer-analysis.ts'
import { randomBytes } from 'node:crypto'
import { isLayerleakError } from '../core/errors.ts'
import { formatPlatform } from '../core/platform.ts'
import { buildImage, buildIndex, whiteout } from '../plugins/sources/image-builder.ts'
import { layoutFixture, pushFixture, targetOf, targetsOf } from './support/explorer.ts'

const multiArch = async () =>
  buildIndex(
    await Promise.all(
      (['amd64', 'arm64'] as const).map((architecture) =>
        buildImage({ platform: { os: 'linux', architecture }, layers: [{ files: [{ path: 'etc/arch', content: architecture }] }] }),
      ),
    ),
    { attestations: true },
  )

describe('layers: platforms of an index', () => {
  it('lists the real platforms of a multi-arch index, attestations left out', async () => {
    const reference = await pushFixture(await multiArch(), 'layers-index')
    const targets = await targetsOf(reference)
    const target = chooseTarget(targets)
    const report = describeImage({ targets, target, config: await target.config(), layers: await target.layers() })
    expect(report.platforms.map((p) => [p.platform, p.selected])).toEqual([
      ['linux/amd64', true],
      ['linux/arm64', false],
    ])
    expect(renderLayersText(report)).toMatch(/\* \[0\] linux\/amd64[\s\S]*\[1\] linux\/arm64/)
  })

  it('shows the platform chosen with --platform', async () => {
    const built = await multiArch()
    const reference = await pushFixture(built, 'layers-index-arm')
    const target = chooseTarget(await targetsOf(reference), 'linux/arm64')
    expect(formatPlatform(target.platform)).toBe('linux/arm64')
    expect(target.manifest.digest).toBe(built.images[1].manifest.digest)
    // the single-target path asks the source for that platform only
    expect((await targetOf(reference, 'linux/arm64')).manifest.digest).toBe(built.images[1].manifest.digest)
  })

  it('names the platforms there are when the one asked for is not', async () => {
    const reference = await pushFixture(await multiArch(), 'layers-index-missing')
    const failure = await Promise.resolve()
      .then(async () => chooseTarget(await targetsOf(reference), 'linux/s390x'))
      .catch((error) => error)
    expect(isLayerleakError(failure, 'PLATFORM_NOT_FOUND')).toBe(true)
    expect(failure.message).toContain('linux/amd64, linux/arm64')
  })
})

describe('layers: build steps and layers', () => {
  const stepped = () =>
    buildImage({
      layers: [
        { files: [{ path: 'etc/os-release', content: 'ID=test\n' }], createdBy: '/bin/sh -c #(nop) ADD file:rootfs in / ' },
        {
          files: [{ path: 'app/a.js', content: 'a' }, { path: 'app/b.js', content: 'b' }, { path: 'app/lib', type: 'directory' }],
          stepsBefore: ['ENV NODE_ENV=production', 'WORKDIR /app'],
          createdBy: 'COPY . /app # buildkit',
        },
        { files: [whiteout('app/b.js')], stepsBefore: ['ARG VERSION=1'], createdBy: 'RUN /bin/sh -c rm /app/b.js # buildkit' },
      ],
      stepsAfter: ['CMD ["node", "a.js"]'],
      cmd: ['node', 'a.js'],
      entrypoint: ['/usr/bin/tini', '--'],
      user: 'app',
      workingDir: '/app',
    })

  it('aligns each layer with the non-empty history step that made it, metadata-only steps marked', async () => {
    const image = await stepped()
    const target = await targetOf(await pushFixture(image, 'layers-steps'))
    const report = describeImage({ targets: [target], target, config: await target.config(), layers: await target.layers() })
    expect(report.steps.map((step) => [step.created_by, step.layer ?? null])).toEqual([
      ['/bin/sh -c #(nop) ADD file:rootfs in / ', 0],
      ['ENV NODE_ENV=production', null],
      ['WORKDIR /app', null],
      ['COPY . /app # buildkit', 1],
      ['ARG VERSION=1', null],
      ['RUN /bin/sh -c rm /app/b.js # buildkit', 2],
      ['CMD ["node", "a.js"]', null],
    ])
    expect(report.layers.map((layer) => [layer.digest, layer.build_step])).toEqual(image.layers.map((layer, i) => [layer.digest, report.steps.find((s) => s.layer === i)?.created_by]))
    const text = renderLayersText(report)
    expect(text).toContain('WORKDIR /app (metadata only)')
    expect(text).not.toContain('COPY . /app (metadata only)')
    // the layer line sits right under the step that produced it
    expect(text).toMatch(new RegExp(`COPY \\. /app\\n\\s+layer 1  ${image.layers[1].digest.slice(7, 19)}  tar\\+gzip  \\d+(\\.\\d)? (B|KB)`))
  })

  it('gives each layer its index, digest, media type and compressed size, and file counts once read', async () => {
    const image = await stepped()
    const target = await targetOf(await layoutFixture(image))
    const layers = await target.layers()
    const metadata = await readLayersMetadata(layers)
    const fileCounts = metadata.map((entries) => entries.filter((e) => e.type !== 'directory' && !e.path.includes('.wh.')).length)
    const report = describeImage({ targets: [target], target, config: await target.config(), layers, fileCounts })
    expect(report.layers.map(({ index, digest, media_type, size, files }) => ({ index, digest, media_type, size, files }))).toEqual(
      image.layers.map((layer, index) => ({ index, digest: layer.digest, media_type: layer.mediaType, size: layer.size, files: [1, 2, 0][index] })),
    )
    expect(renderLayersText(report)).toContain('2 files')
  })

  it('summarises the config: entrypoint, cmd, user, workdir', async () => {
    const target = await targetOf(await layoutFixture(await stepped()))
    const report = describeImage({ targets: [target], target, config: await target.config(), layers: await target.layers() })
    expect(report.config).toMatchObject({ entrypoint: ['/usr/bin/tini', '--'], cmd: ['node', 'a.js'], user: 'app', working_dir: '/app' })
    expect(renderLayersText(report)).toMatch(/Entrypoint +\["\/usr\/bin\/tini","--"\][\s\S]*User +app[\s\S]*WorkingDir +\/app/)
  })

  it('hides env values by default, in the env and in the history step that set them', async () => {
    const token = `ghp_${randomBytes(18).toString('hex')}`
    const image = await buildImage({ layers: [{ files: [{ path: 'x', content: 'x' }] }], env: ['PATH=/usr/bin', `API_TOKEN=${token}`], stepsAfter: [`ENV API_TOKEN=${token}`] })
    const target = await targetOf(await layoutFixture(image))
    const input = { targets: [target], target, config: await target.config(), layers: await target.layers() }
    const hidden = describeImage(input)
    expect(JSON.stringify(hidden)).not.toContain(token)
    expect(hidden.config.env).toEqual(['PATH=********', 'API_TOKEN=ghp********'])
    expect(renderLayersText(hidden)).toContain('--show-env')
    const shown = describeImage({ ...input, showEnv: true })
    expect(shown.config.env).toContain(`API_TOKEN=${token}`)
    expect(shown.steps.at(-1)?.created_by).toBe(`ENV API_TOKEN=${token}`)
  })
})

describe('layers --analyze on a crafted image', () => {
  it('counts the bytes a later layer removed or overwrote, from the layers as pushed', async () => {
    const image = await buildImage({
      layers: [
        { files: [{ path: 'bin/bash', content: 'b'.repeat(1000), mode: 0o755 }, { path: 'etc/app.conf', content: 'c'.repeat(200) }] },
        { files: [{ path: 'tmp/sdk.tar', content: 's'.repeat(30_000) }, { path: 'usr/bin/gcc', content: 'g'.repeat(500), mode: 0o755 }, { path: 'srv/shared', content: 'w', mode: 0o666 }] },
        { files: [whiteout('tmp/sdk.tar'), { path: 'etc/app.conf', content: 'C'.repeat(250) }, { path: 'usr/bin/sudo', content: 's', mode: 0o4755 }] },
      ],
    })
    const target = await targetOf(await pushFixture(image, 'layers-analyze'))
    const analysis = analyzeLayers(await readLayersMetadata(await target.layers()))
    expect(analysis.layers.map((l) => [l.added.bytes, l.modified.bytes, l.removed.bytes])).toEqual([
      [1200, 0, 0],
      [30_501, 0, 0],
      [1, 250, 30_000],
    ])
    expect(analysis.wastedBytes).toBe(30_000 + 200)
    expect(analysis.efficiency).toBeCloseTo(1 - 30_200 / (1200 + 30_501 + 251), 10)
    expect(analysis.userWastedPercent).toBeCloseTo(30_200 / (30_501 + 251), 10)
    expect(analysis.tools.map((t) => t.path).sort()).toEqual(['bin/bash', 'usr/bin/gcc'])
    expect(analysis.setuid.map((f) => f.path)).toEqual(['usr/bin/sudo'])
    expect(analysis.worldWritable.map((f) => f.path)).toEqual(['srv/shared'])
  })
})
