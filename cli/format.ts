/** Small text formatting shared by the commands' human-readable output. */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** 1536 -> `1.5 KB` (base 1024, as docker and dive print sizes) */
export const humanSize = (bytes: number): string => {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`
}

export { shortDigest } from '../core/digest.ts'

export const truncate = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, width - 1)}…`)

/** `created_by` without the `/bin/sh -c #(nop) ` noise Docker puts in front of every step */
export const cleanStep = (step: string): string =>
  step
    .replace(/^\/bin\/sh -c #\(nop\)\s*/, '')
    .replace(/^\/bin\/sh -c /, 'RUN ')
    .replace(/\s+# buildkit$/, '')
    .replace(/\s+/g, ' ')
    .trim()
