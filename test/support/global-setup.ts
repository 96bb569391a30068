import type { TestProject } from 'vitest/node'
import { startPostgres } from './postgres-server.ts'
import { startRegistry } from './registry-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the shared test registry */
    registryHost: string
    /** URL of the shared test PostgreSQL's maintenance database; a test file makes its own with createTestDatabase */
    postgresUrl: string
  }
}

export default async function setup(project: TestProject) {
  const [registry, postgres] = await Promise.allSettled([startRegistry(), startPostgres()])
  if (registry.status === 'rejected' || postgres.status === 'rejected') {
    // never leave one server running behind a failed setup
    await Promise.all([registry, postgres].map((started) => (started.status === 'fulfilled' ? started.value.stop() : undefined)))
    throw registry.status === 'rejected' ? registry.reason : (postgres as PromiseRejectedResult).reason
  }
  project.provide('registryHost', registry.value.host)
  project.provide('postgresUrl', postgres.value.url)
  return () => Promise.all([registry.value.stop(), postgres.value.stop()]).then(() => {})
}
