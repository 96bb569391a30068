import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package root: the nearest directory above this module with layerleak's package.json. Works
 * from source (cli/) and from the build (dist/cli/), under every runtime.
 */
export const packageRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (pkg.name === 'layerleak') return dir
    } catch {}
    dir = dirname(dir)
  }
  return process.cwd()
}

export const packageVersion = (): string => {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '0.0.0'
  }
}
