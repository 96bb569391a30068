import { type ErrorCode, toLayerleakError } from '../core/errors.ts'
import type { Confidence, ScanResult } from '../core/result.ts'

export const ExitCode = { clean: 0, error: 1, findings: 2, incomplete: 3 } as const

const RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 }

/** 2 when actionable findings reach `failOn`, else 3 when coverage is incomplete (unless allowed), else 0. */
export const exitCodeFor = (result: ScanResult, options: { failOn: Confidence | 'never'; allowPartial: boolean }): number => {
  if (result.status === 'failed') return ExitCode.error
  if (options.failOn !== 'never') {
    const threshold = RANK[options.failOn]
    if (result.findings.some((finding) => RANK[finding.confidence] >= threshold)) return ExitCode.findings
  }
  if (result.status === 'partial' && !options.allowPartial) return ExitCode.incomplete
  return ExitCode.clean
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: 'log in with `docker login`, or pass --username and --password-stdin',
  DENIED: 'your credentials are not allowed to read this repository',
  RATE_LIMITED: 'the registry is rate limiting you; wait, or log in for a higher limit',
  NETWORK_ERROR: 'check the registry host and your network; plain-HTTP registries go in LAYERLEAK_INSECURE_REGISTRIES',
  SCHEMA_OUT_OF_DATE: 'run `layerleak migrate up`',
}

/** One line for people: the message, and what to do about it when we know. */
export const describeError = (error: unknown): { message: string; code: ErrorCode } => {
  const failure = toLayerleakError(error)
  const hint = HINTS[failure.code]
  // a message that already says what to do needs no hint repeating it
  return { code: failure.code, message: hint && !failure.message.includes(hint) ? `${failure.message} (${hint})` : failure.message }
}
