import { createConsola, type ConsolaInstance } from 'consola'

const LEVELS = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 } as const

/** Logs go to stderr, always: stdout belongs to results (`--format json` prints JSON and nothing else). */
export const createLogger = (level: keyof typeof LEVELS = 'info'): ConsolaInstance =>
  createConsola({ level: LEVELS[level], stdout: process.stderr, stderr: process.stderr, formatOptions: { date: false } })
