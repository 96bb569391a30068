import type { TestProject } from 'vitest/node'
import { startRegistry } from './registry-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the shared test registry */
    registryHost: string
  }
}

export default async function setup(project: TestProject) {
  const registry = await startRegistry()
  project.provide('registryHost', registry.host)
  return () => registry.stop()
}
