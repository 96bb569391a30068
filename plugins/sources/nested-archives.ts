/**
 * Readers for archives found inside layers (core/nested-archives.ts opens them and scans their
 * members): zip and everything built on it (jar, war, ear, whl, egg, Android apk, nupkg, docx...),
 * tar, gzip (tgz and Alpine's apk, which is concatenated gzip'd tars, included) and zstd. The
 * format is known by its magic bytes, never by the file's extension.
 *
 * Each reader gets the whole archive in memory (the pipeline bounds its size) and decompresses a
 * member only when it is not larger than it may be: a declared size is checked before inflating,
 * and zlib is told the most it may produce, so a lying header cannot blow up memory either.
 */
import { Buffer } from 'node:buffer'
import { gunzipSync, inflateRawSync } from 'node:zlib'
import { extract as tarExtract } from 'tar-stream'
import type { ArchiveMember, ArchiveReader, ArchiveReadOptions } from '../../core/nested-archives.ts'
import { type ByteSink, createDecompressor } from './decompress.ts'
import { zipMembers } from './zip-reader.ts'
import { normaliseEntryPath } from './tar-index.ts'

const tooLarge = (limit: number) => `larger than ${limit} bytes (maxArchiveBytes)`

export const zipReader: ArchiveReader = {
  format: 'zip',
  // a local file header, or the end record of an empty archive
  sniff: (head) => head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6)),
  members: (archive, options) => zipMembers(archive, options.maxMemberBytes),
}

const TAR_MAGIC_OFFSET = 257
const isUstar = (head: Uint8Array): boolean =>
  head.length >= 263 &&
  head[TAR_MAGIC_OFFSET] === 0x75 && // u
  head[TAR_MAGIC_OFFSET + 1] === 0x73 && // s
  head[TAR_MAGIC_OFFSET + 2] === 0x74 && // t
  head[TAR_MAGIC_OFFSET + 3] === 0x61 && // a
  head[TAR_MAGIC_OFFSET + 4] === 0x72 // r

type TarEntry = AsyncIterable<Uint8Array> & { header: { name: string; type?: string | null; size?: number }; resume(): void }

async function* tarMembers(archive: Uint8Array, { maxMemberBytes }: ArchiveReadOptions): AsyncIterable<ArchiveMember> {
  // v7 headers have no magic; their checksum still tells garbage apart
  const extract = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0])
  extract.end(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength))
  for await (const raw of extract as AsyncIterable<unknown>) {
    const entry = raw as TarEntry
    const { name, type, size = 0 } = entry.header
    const path = normaliseEntryPath(name)
    if ((type ?? 'file') !== 'file' && type !== 'contiguous-file') {
      entry.resume()
      continue
    }
    if (size > maxMemberBytes) {
      entry.resume()
      yield { path, skipped: tooLarge(maxMemberBytes) }
      continue
    }
    const chunks: Uint8Array[] = []
    for await (const chunk of entry) chunks.push(chunk)
    yield { path, bytes: new Uint8Array(Buffer.concat(chunks)) }
  }
}

export const tarReader: ArchiveReader = {
  format: 'tar',
  sniff: isUstar,
  members: tarMembers,
}

/** `notes.txt.gz` -> `notes.txt`; `app.tgz` -> `app.tar`; otherwise the name itself */
const innerName = (name: string, suffixes: [string, string][]): string => {
  for (const [suffix, replacement] of suffixes) {
    if (name.toLowerCase().endsWith(suffix) && name.length > suffix.length) return name.slice(0, -suffix.length) + replacement
  }
  return name
}

/** A compressed stream holds one file, unless it holds a tar: then its members are the archive's. */
async function* unwrap(data: Uint8Array, name: string, options: ArchiveReadOptions): AsyncIterable<ArchiveMember> {
  if (isUstar(data.subarray(0, 512))) yield* tarMembers(data, options)
  else yield { path: name, bytes: data }
}

const GZIP_NAMES: [string, string][] = [['.tgz', '.tar'], ['.apk', '.tar'], ['.gz', ''], ['.z', '']]

export const gzipReader: ArchiveReader = {
  format: 'gzip',
  sniff: (head) => head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08,
  async *members(archive, options) {
    let data: Uint8Array
    try {
      // concatenated members (Alpine's apk: signature, control and data tars) come out as one stream
      data = gunzipSync(archive, { maxOutputLength: options.maxMemberBytes })
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        yield { path: innerName(options.name, GZIP_NAMES), skipped: `decompresses to more than ${options.maxMemberBytes} bytes (maxArchiveBytes)` }
        return
      }
      throw error
    }
    yield* unwrap(data, innerName(options.name, GZIP_NAMES), options)
  },
}

class OutputTooLarge extends Error {}

/** zstd through the layer decompressor (native where the runtime has it, fzstd elsewhere), bounded. */
const unzstd = async (archive: Uint8Array, limit: number): Promise<Uint8Array> => {
  const chunks: Uint8Array[] = []
  let size = 0
  let over = false
  let decompressor: ReturnType<typeof createDecompressor> | undefined
  const sink: ByteSink = {
    write(chunk) {
      if (over) return true
      size += chunk.byteLength
      if (size > limit) {
        // never throw from here: native zlib calls it from an event handler
        over = true
        chunks.length = 0
        decompressor?.destroy()
        return true
      }
      chunks.push(chunk.slice())
      return true
    },
    drained: () => Promise.resolve(),
  }
  decompressor = createDecompressor('zstd', sink)
  try {
    await decompressor.write(archive)
    if (!over) await decompressor.end()
  } catch (error) {
    decompressor.destroy()
    if (!over) throw error
  }
  if (over) throw new OutputTooLarge()
  return new Uint8Array(Buffer.concat(chunks))
}

const ZSTD_NAMES: [string, string][] = [['.tzst', '.tar'], ['.tar.zst', '.tar'], ['.zst', ''], ['.zstd', '']]

export const zstdReader: ArchiveReader = {
  format: 'zstd',
  sniff: (head) => head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd,
  async *members(archive, options) {
    let data: Uint8Array
    try {
      data = await unzstd(archive, options.maxMemberBytes)
    } catch (error) {
      if (error instanceof OutputTooLarge) {
        yield { path: innerName(options.name, ZSTD_NAMES), skipped: `decompresses to more than ${options.maxMemberBytes} bytes (maxArchiveBytes)` }
        return
      }
      throw error
    }
    yield* unwrap(data, innerName(options.name, ZSTD_NAMES), options)
  },
}

/** Every built-in reader; the pipeline tries them in order on each file's first bytes. */
export const builtinArchiveReaders: ArchiveReader[] = [zipReader, gzipReader, zstdReader, tarReader]
