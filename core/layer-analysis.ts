/**
 * dive-style analysis of an image from its layers' entry metadata: what each layer added, modified
 * and removed, the bytes wasted on files a later layer removed or overwrote (the same places
 * deleted secrets hide), an efficiency score, and what a hardened image should not ship: world-writable
 * paths, setuid/setgid binaries, shells, compilers, debuggers and download tools. Pure: metadata in,
 * numbers out; the CI thresholds are checked here too so the command only prints and exits.
 */
import type { EntryMeta, LayerDelta, MergedEntry } from './merged-filesystem.ts'
import { MergedFilesystem } from './merged-filesystem.ts'

export interface WastedFile {
  path: string
  size: number
  /** the layer whose version was removed or overwritten */
  layer: number
  removedBy: number
  how: 'deleted' | 'replaced'
}

export interface RiskyFile {
  path: string
  layer: number
  mode: number
  type: MergedEntry['type']
}

export interface ToolFile extends RiskyFile {
  tool: string
  kind: 'shell' | 'compiler' | 'debugger' | 'network' | 'interpreter' | 'package-manager'
}

export interface ImageAnalysis {
  layers: LayerDelta[]
  /** uncompressed bytes of every non-directory entry of every layer */
  totalBytes: number
  /** the same, for layers after the first (the base image is not the user's doing) */
  userBytes: number
  wastedBytes: number
  /** wastedBytes / userBytes, as dive computes it (0 when there is no user layer) */
  userWastedPercent: number
  /** 1 - wastedBytes / totalBytes (1 for an image with no bytes) */
  efficiency: number
  /** removed or overwritten versions, largest first */
  wasted: WastedFile[]
  worldWritable: RiskyFile[]
  setuid: RiskyFile[]
  setgid: RiskyFile[]
  tools: ToolFile[]
  finalFiles: number
  finalBytes: number
}

const TOOLS: Array<[RegExp, ToolFile['kind']]> = [
  [/^(sh|bash|ash|dash|zsh|ksh|mksh|csh|tcsh|fish|busybox)$/, 'shell'],
  [/^(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|make|cmake|ld|as|go|rustc|cargo|javac|tcc)(-\d[\d.]*)?$/, 'compiler'],
  [/^(gdb|strace|ltrace|lldb|perf|tcpdump|valgrind)$/, 'debugger'],
  [/^(curl|wget|nc|ncat|netcat|socat|telnet|ssh|scp|sftp|ftp|rsync|nmap)$/, 'network'],
  [/^(python|python\d(\.\d+)?|perl|perl5[\d.]*|ruby|php|lua|node|irb)$/, 'interpreter'],
  [/^(apt|apt-get|dpkg|apk|yum|dnf|rpm|microdnf|pip|pip\d(\.\d+)?|npm)$/, 'package-manager'],
]

/** `bin/`, `usr/bin/`, `usr/local/sbin/`...: where a name is a command, not a directory of docs */
const inCommandDirectory = (path: string): boolean => /(^|\/)s?bin\/[^/]+$/.test(path)

export const classifyTool = (path: string): ToolFile['kind'] | undefined => {
  if (!inCommandDirectory(path)) return undefined
  const name = path.slice(path.lastIndexOf('/') + 1)
  return TOOLS.find(([pattern]) => pattern.test(name))?.[1]
}

const STICKY = 0o1000
const SETGID = 0o2000
const SETUID = 0o4000
const WORLD_WRITABLE = 0o002

/** Analyses layers given in order, each as its entries' metadata (whiteout markers included). */
export const analyzeLayers = (layers: Iterable<EntryMeta>[]): ImageAnalysis => {
  const merged = new MergedFilesystem()
  layers.forEach((entries, index) => merged.applyLayer(index, entries))
  return analyzeMerged(merged)
}

export const analyzeMerged = (merged: MergedFilesystem): ImageAnalysis => {
  const deltas = merged.deltas
  const totalBytes = deltas.reduce((sum, delta) => sum + delta.bytes, 0)
  const userBytes = deltas.slice(1).reduce((sum, delta) => sum + delta.bytes, 0)
  const wasted: WastedFile[] = merged.removed
    .filter((entry) => entry.size > 0)
    .map(({ path, size, layer, removedBy, how }) => ({ path, size, layer, removedBy, how }))
    .sort((a, b) => b.size - a.size || a.path.localeCompare(b.path))
  const wastedBytes = wasted.reduce((sum, file) => sum + file.size, 0)
  const worldWritable: RiskyFile[] = []
  const setuid: RiskyFile[] = []
  const setgid: RiskyFile[] = []
  const tools: ToolFile[] = []
  let finalFiles = 0
  let finalBytes = 0
  for (const entry of merged.entries()) {
    if (entry.layer < 0) continue
    const risky = { path: entry.path, layer: entry.layer, mode: entry.mode, type: entry.type }
    if (entry.type !== 'directory') {
      finalFiles++
      finalBytes += entry.size
    }
    // symlinks are always 0777 and mean nothing; a sticky directory (/tmp) is world-writable by design
    const stickyDirectory = entry.type === 'directory' && (entry.mode & STICKY) !== 0
    if (entry.type !== 'symlink' && !stickyDirectory && (entry.mode & WORLD_WRITABLE) !== 0) worldWritable.push(risky)
    if (entry.type === 'file' || entry.type === 'hardlink') {
      if (entry.mode & SETUID) setuid.push(risky)
      if (entry.mode & SETGID) setgid.push(risky)
    }
    if (entry.type !== 'directory') {
      const kind = classifyTool(entry.path)
      if (kind) tools.push({ ...risky, tool: entry.path.slice(entry.path.lastIndexOf('/') + 1), kind })
    }
  }
  return {
    layers: deltas,
    totalBytes,
    userBytes,
    wastedBytes,
    userWastedPercent: userBytes > 0 ? wastedBytes / userBytes : 0,
    efficiency: totalBytes > 0 ? 1 - wastedBytes / totalBytes : 1,
    wasted,
    worldWritable,
    setuid,
    setgid,
    tools,
    finalFiles,
    finalBytes,
  }
}

export interface CiThresholds {
  /** fail below this efficiency (0..1) */
  lowestEfficiency?: number
  /** fail above this many wasted bytes */
  highestWastedBytes?: number
  /** fail above this wasted/user-bytes ratio (0..1) */
  highestUserWastedPercent?: number
}

/** dive's CI defaults: efficiency at least 0.9, user-wasted at most 10%, wasted bytes unchecked */
export const defaultCiThresholds: CiThresholds = { lowestEfficiency: 0.9, highestUserWastedPercent: 0.1 }

export interface CiCheck {
  rule: 'lowest-efficiency' | 'highest-wasted-bytes' | 'highest-user-wasted-percent'
  threshold: number
  actual: number
  passed: boolean
}

/** One check per threshold set; the image passes when all pass. */
export const evaluateCi = (analysis: ImageAnalysis, thresholds: CiThresholds): CiCheck[] => {
  const checks: CiCheck[] = []
  if (thresholds.lowestEfficiency !== undefined) {
    checks.push({ rule: 'lowest-efficiency', threshold: thresholds.lowestEfficiency, actual: analysis.efficiency, passed: analysis.efficiency >= thresholds.lowestEfficiency })
  }
  if (thresholds.highestWastedBytes !== undefined) {
    checks.push({ rule: 'highest-wasted-bytes', threshold: thresholds.highestWastedBytes, actual: analysis.wastedBytes, passed: analysis.wastedBytes <= thresholds.highestWastedBytes })
  }
  if (thresholds.highestUserWastedPercent !== undefined) {
    checks.push({
      rule: 'highest-user-wasted-percent',
      threshold: thresholds.highestUserWastedPercent,
      actual: analysis.userWastedPercent,
      passed: analysis.userWastedPercent <= thresholds.highestUserWastedPercent,
    })
  }
  return checks
}
