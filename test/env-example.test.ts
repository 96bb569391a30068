import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { envNameOf, settingsSchema } from '../core/settings.ts'

describe('.env.example', () => {
  const text = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
  const names = new Set([...text.matchAll(/^([A-Z0-9_]+)=/gm)].map((match) => match[1]))

  it('lists every setting, so users can find each one', () => {
    const missing = Object.keys(settingsSchema.shape).map(envNameOf).filter((name) => !names.has(name))
    expect(missing).toEqual([])
  })

  it('lists nothing that is not a setting', () => {
    const known = new Set(Object.keys(settingsSchema.shape).map(envNameOf))
    expect([...names].filter((name) => !known.has(name))).toEqual([])
  })

  it('carries no live database URL', () => {
    expect(text).toMatch(/^LAYERLEAK_DATABASE_URL=$/m)
  })
})
