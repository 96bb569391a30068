/**
 * Finds and loads `layerleak.config.{ts,mts,js,mjs,json}`. Bun and Deno import TypeScript
 * natively; Node 20 cannot, so there jiti transpiles it.
 */
import { access, readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type LayerleakConfig, validateConfig } from '../core/config.ts'
import { LayerleakError } from '../core/errors.ts'
import { detectRuntime } from '../adapters/runtime.ts'

const CANDIDATES = ['layerleak.config.ts', 'layerleak.config.mts', 'layerleak.config.js', 'layerleak.config.mjs', 'layerleak.config.json']

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

export const findConfigFile = async (cwd: string): Promise<string | undefined> => {
  for (const name of CANDIDATES) {
    const path = resolve(cwd, name)
    if (await exists(path)) return path
  }
  return undefined
}

const importModule = async (path: string): Promise<unknown> => {
  if (path.endsWith('.json')) return JSON.parse(await readFile(path, 'utf8'))
  const typescript = /\.m?ts$/.test(path)
  if (typescript && detectRuntime() === 'node') {
    const { createJiti } = await import('jiti')
    return createJiti(import.meta.url, { interopDefault: true }).import(path, { default: true })
  }
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown }
  return module.default ?? module
}

/** The config at `explicit`, or the one in `cwd`, or an empty config when there is none. */
export const loadConfig = async (explicit: string | undefined, cwd = process.cwd()): Promise<{ config: LayerleakConfig; path?: string }> => {
  const path = explicit ? resolve(cwd, explicit) : await findConfigFile(cwd)
  if (!path) return { config: {} }
  if (explicit && !(await exists(path))) throw new LayerleakError('INVALID_CONFIG', `config file ${explicit} does not exist`)
  let loaded: unknown
  try {
    loaded = await importModule(path)
  } catch (cause) {
    throw new LayerleakError('INVALID_CONFIG', `could not load ${path}: ${(cause as Error).message}`, { cause })
  }
  return { config: validateConfig(loaded, path), path }
}
