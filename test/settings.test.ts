import { describe, expect, it } from 'vitest'
import { envNameOf, resolveSettings, settingsFromEnv } from '../core/settings.ts'

describe('settings', () => {
  it('names environment variables as DESIGN.md lists them', () => {
    expect(envNameOf('maxLayerBytes')).toBe('LAYERLEAK_MAX_LAYER_BYTES')
    expect(envNameOf('persistRawSecrets')).toBe('LAYERLEAK_PERSIST_RAW_SECRETS')
  })

  it('reads durations, sizes, flags and lists from the environment', () => {
    const settings = resolveSettings(
      settingsFromEnv({
        LAYERLEAK_HTTP_TIMEOUT: '2m',
        LAYERLEAK_MAX_LAYER_BYTES: '64MiB',
        LAYERLEAK_PERSIST_RAW_SECRETS: '1',
        LAYERLEAK_INSECURE_REGISTRIES: 'reg.lan:5000, other.lan',
        LAYERLEAK_MAX_REPOSITORY_TAGS: '0',
      }),
    )
    expect(settings).toMatchObject({
      httpTimeout: 120_000,
      maxLayerBytes: 64 * 1024 * 1024,
      persistRawSecrets: true,
      insecureRegistries: ['reg.lan:5000', 'other.lan'],
      maxRepositoryTags: 0,
    })
  })

  it('lets later layers win: flags over environment over the config file', () => {
    const settings = resolveSettings({ findingsDir: 'from-file' }, { findingsDir: 'from-env' }, { findingsDir: 'from-flag' })
    expect(settings.findingsDir).toBe('from-flag')
  })

  it('names the variable at fault in a clear error', () => {
    expect(() => resolveSettings(settingsFromEnv({ LAYERLEAK_HTTP_TIMEOUT: 'soon' }))).toThrow(/LAYERLEAK_HTTP_TIMEOUT.*duration/)
    expect(() => resolveSettings({ maxFileBytes: 0 })).toThrow(/LAYERLEAK_MAX_FILE_BYTES must be greater than zero/)
  })

  it('rejects unknown settings', () => {
    expect(() => resolveSettings({ maxLayerByte: 1 })).toThrow(/INVALID|maxLayerByte|Unrecognized/i)
  })
})
