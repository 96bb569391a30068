/**
 * What the file-format detectors (structured-files.ts) share. A file-format detector parses a known
 * credentials file (.netrc, kubeconfig, .docker/config.json...) instead of grepping it, so it
 * reports exactly the secret, under the key the format gives it, decoded when the format encodes it.
 *
 * It reads a text as its format when the path says so (`root/.netrc`, `app.jar!META-INF/.npmrc`),
 * when the content cannot be anything else (`kind: Config` with `users:`, a JSON `auths` map), or
 * where a script writes the file (`echo "machine … password …" > ~/.netrc`, a heredoc into
 * ~/.pgpass), as Dockerfiles and their history do. Its matches outrank every other detector's on
 * the same span (`fileFormat: true`, core/text-scanner.ts): it knows what the value is.
 */
import { Buffer } from 'node:buffer'
import type { DetectorContext, DetectorMatch, ScanChunk } from '../../core/contracts.ts'
import { KEYWORD_WINDOW_CONTEXT } from '../../core/text-scanner.ts'
import { type DetectorDefinition, type DetectorSpec, defineDetector } from '../../core/detector.ts'

/**
 * A file-format detector: matched in context of the whole file (or, with `parsesInPlace`, of the
 * whole file only where the path names its format), with examples that name their file.
 */
export interface FileFormatDetector extends DetectorDefinition {
  fileFormat: true
  context: 'file' | ((path: string) => DetectorContext)
  /** files (path and content) in which it must find something */
  fileExamples: { path: string; text: string }[]
  /** files in which it must find nothing */
  fileNegatives: { path: string; text: string }[]
}

export interface FileFormatSpec extends Omit<DetectorSpec, 'pattern' | 'validate' | 'minEntropy' | 'detect'> {
  detect: (chunk: ScanChunk) => Iterable<DetectorMatch>
  fileExamples: { path: string; text: string }[]
  fileNegatives?: { path: string; text: string }[]
  /**
   * The paths it parses whole (`root/.netrc`). Given, it reads other files only around its
   * keywords: what it finds there (a heredoc into ~/.netrc, a lone entry line) names itself on
   * the lines it needs, and a 10 MB bundle that says `password` costs windows, not a parse.
   */
  parsesInPlace?: (path: string) => boolean
}

export const defineFileFormatDetector = ({ parsesInPlace, ...spec }: FileFormatSpec): FileFormatDetector => {
  const detector = defineDetector(spec)
  return {
    ...detector,
    source: `${detector.source}${parsesInPlace?.toString() ?? ''}`,
    fileFormat: true,
    // outside its own files it reads what the other detectors read around their keywords
    context: parsesInPlace ? (path: string) => (parsesInPlace(path) ? 'file' : KEYWORD_WINDOW_CONTEXT) : 'file',
    fileExamples: spec.fileExamples,
    fileNegatives: spec.fileNegatives ?? [],
  }
}

/** The path's segments: archive members (`a.jar!x/y`) split like directories. */
const segmentsOf = (path: string): string[] => path.split(/[/!]/).filter(Boolean)

/** True when the path ends with these segments: `pathEndsWith('root/.aws/credentials', '.aws', 'credentials')`. */
export const pathEndsWith = (path: string, ...tail: string[]): boolean => {
  const segments = segmentsOf(path)
  if (segments.length < tail.length) return false
  return tail.every((segment, i) => segments[segments.length - tail.length + i] === segment)
}

/** The file's own name. */
export const fileNameOf = (path: string): string => segmentsOf(path).at(-1) ?? ''

/** One line of a text: where it starts and ends (without its line break). */
export interface LineSpan {
  start: number
  end: number
  text: string
}

export function* linesOf(text: string, from = 0, to = text.length): Iterable<LineSpan> {
  for (let start = from; start < to; ) {
    let end = text.indexOf('\n', start)
    if (end === -1 || end > to) end = to
    const stop = end > start && text[end - 1] === '\r' ? end - 1 : end
    yield { start, end: stop, text: text.slice(start, stop) }
    start = end + 1
  }
}

/**
 * Whether a line of `text` starts with `prefix` and matches `line` as a whole. Lines are found with
 * indexOf: source code says `kind:` on every other line, but rarely at a line's very start.
 */
export const hasLine = (text: string, prefix: string, line: RegExp): boolean => {
  for (let at = text.startsWith(prefix) ? 0 : text.indexOf(`\n${prefix}`); at !== -1; at = text.indexOf(`\n${prefix}`, at + 1)) {
    const start = text[at] === '\n' ? at + 1 : at
    const end = text.indexOf('\n', start)
    if (line.test(text.slice(start, end === -1 ? text.length : end).replace(/\r$/, ''))) return true
  }
  return false
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g
const escape = (literal: string): string => literal.replace(REGEX_SPECIAL, '\\$&')

/** How far around a mention of the file name its line is read: script lines are short, minified lines are not. */
const LINE_REACH = 2048

/** The line holding `at`, within LINE_REACH either side. */
const lineAround = (text: string, at: number): { start: number; end: number } => {
  const newline = text.lastIndexOf('\n', at)
  const start = newline === -1 || at - newline > LINE_REACH ? Math.max(0, at - LINE_REACH) : newline + 1
  let end = text.indexOf('\n', at)
  if (end === -1) end = text.length
  return { start, end: Math.min(end, at + LINE_REACH) }
}

/**
 * Spans of a text that a script writes into a file with one of these names: a heredoc
 * (`cat > ~/.netrc <<'EOF'` … `EOF`, `tee -a .pgpass <<EOF`) or an echo/printf redirect
 * (`echo "machine x login y password z" > /root/.netrc`). In echo bodies, `\n` is turned into a
 * blank and a line break, so lines parse as the file's lines with offsets unchanged.
 *
 * Both forms name the file on the line that starts them, so only lines that mention a name are
 * read: a 10 MB bundle that says `.pgpass` once costs one short line, not a pass per line.
 */
export const writtenInto = (text: string, names: readonly string[]): { start: number; end: number; text: string }[] => {
  const found: { start: number; end: number; text: string }[] = []
  const lines = new Map<number, number>()
  for (const name of names) {
    for (let at = text.indexOf(name); at !== -1; at = text.indexOf(name, at + name.length)) {
      const line = lineAround(text, at)
      if (!lines.has(line.start)) lines.set(line.start, line.end)
    }
  }
  if (lines.size === 0) return found
  const name = `(?:${names.map(escape).join('|')})`
  const heredoc = new RegExp(`^[^\\n]*?(?:>>?|\\btee\\b[^\\n]*?)[ \\t]*["']?[^\\s"'<>|;&]*${name}["']?[^\\n]*?<<-?[ \\t]*(["']?)([A-Za-z_][A-Za-z0-9_]*)\\1|^[^\\n]*?<<-?[ \\t]*(["']?)([A-Za-z_][A-Za-z0-9_]*)\\3[^\\n]*?>>?[ \\t]*["']?[^\\s"'<>|;&]*${name}["']?`)
  const echo = new RegExp(`\\b(?:echo|printf)[ \\t]+(?:-[a-zA-Z]+[ \\t]+)*(["'])((?:(?!\\1)[^\\n\\\\]|\\\\.)*)\\1[ \\t]*>>?[ \\t]*["']?[^\\s"'<>|;&]*${name}(?![A-Za-z0-9_.-])`, 'g')
  for (const [lineStart, lineEnd] of [...lines].sort((a, b) => a[0] - b[0])) {
    const line = text.slice(lineStart, lineEnd)
    const opening = heredoc.exec(line)
    // the body starts on the next line and runs to the delimiter alone on its line (or the end)
    if (opening && lineEnd < text.length && text[lineEnd] === '\n') {
      const delimiter = opening[2] ?? opening[4]
      const start = lineEnd + 1
      const close = new RegExp(`^[ \\t]*${escape(delimiter)}[ \\t]*$`, 'm').exec(text.slice(start))
      const stop = close ? start + close.index : text.length
      found.push({ start, end: stop, text: text.slice(start, stop) })
    }
    for (const match of line.matchAll(echo)) {
      const body = match[2]
      const start = lineStart + match.index + match[0].indexOf(match[1]) + 1
      found.push({ start, end: start + body.length, text: body.replace(/\\n/g, ' \n') })
    }
  }
  return found.sort((a, b) => a.start - b.start)
}

/** `${VAR}`, `$VAR`, `$(cmd)`, `{{ x }}`, `%(x)s`, `<token>`, `****`, `xxxx`, `changeme`: not a value */
const NOT_A_VALUE =
  /^(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|\{\{.*\}\}|%\([^)]*\)s|%[A-Za-z_]+%|<[^>]*>|\[[^\]]*\]|\*+|x{3,}|X{3,}|\.{3,}|-+|changeme|change_me|changeit|password|passwd|secret|token|example|placeholder|redacted|null|nil|none|undefined|todo|your[_-][A-Za-z_-]*)$/i

/** A value worth reporting: long enough, not a reference, template or placeholder, not one character repeated. */
export const credible = (value: string, minLength = 4): boolean =>
  value.length >= minLength && !NOT_A_VALUE.test(value) && !/^(.)\1+$/.test(value)

/** Strips one pair of matching quotes, returning the inner offsets. */
export const unquote = (value: string, start: number): { value: string; start: number; end: number } => {
  const first = value[0]
  if (value.length >= 2 && (first === '"' || first === "'") && value.at(-1) === first) return { value: value.slice(1, -1), start: start + 1, end: start + value.length - 1 }
  return { value, start, end: start + value.length }
}

/** Basic credentials as Docker `auth` and npm `_auth` store them: base64 of `user:secret`. The secret is what leaks. */
export const secretOfBasicAuth = (encoded: string): string | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0 || /[\u0000-\u001f\ufffd]/.test(decoded)) return undefined
  return decoded.slice(colon + 1)
}
