#!/usr/bin/env node
/**
 * The layerleak command line. Each command lives in its own file; this one only wires them.
 */
import { defineCommand, runMain } from 'citty'
import { baselineCommand } from './baseline.ts'
import { catCommand } from './cat.ts'
import { demoCommand } from './demo.ts'
import { detectorsCommand } from './detectors.ts'
import { exploreCommand } from './explore.ts'
import { fsCommand } from './fs.ts'
import { historyCommand } from './history.ts'
import { layersCommand } from './layers.ts'
import { migrateCommand } from './migrate.ts'
import { peekCommand } from './peek.ts'
import { pullCommand } from './pull.ts'
import { scanCommand } from './scan.ts'
import { serveCommand } from './serve.ts'
import { watchCommand } from './watch.ts'
import { packageVersion } from './version.ts'

const main = defineCommand({
  meta: {
    name: 'layerleak',
    version: packageVersion(),
    description: 'Find leaked secrets in container images without a Docker daemon, and look inside images without pulling them.',
  },
  subCommands: {
    scan: scanCommand,
    demo: demoCommand,
    layers: layersCommand,
    peek: peekCommand,
    fs: fsCommand,
    cat: catCommand,
    pull: pullCommand,
    explore: exploreCommand,
    migrate: migrateCommand,
    detectors: detectorsCommand,
    baseline: baselineCommand,
    serve: serveCommand,
    watch: watchCommand,
    history: historyCommand,
  },
})

await runMain(main)
