/**
 * Hand-made tar blocks, for what tar-stream does not write: GNU long names (`././@LongLink`
 * entries of type L and K) and deliberately broken headers.
 */
export const concatBlocks = (blocks: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(blocks))

/** data padded to whole 512-byte blocks */
export const padded = (data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(data.byteLength / 512) * 512)
  out.set(data)
  return out
}

/** one header block; `gnu` writes GNU's `ustar  ` magic instead of POSIX `ustar\000` */
export const tarHeader = (fields: { name: string; type: string; size?: number; linkname?: string; gnu?: boolean }): Uint8Array => {
  const block = Buffer.alloc(512)
  block.write(fields.name, 0, 100, 'utf8')
  block.write('0000644\0', 100)
  block.write('0000000\0', 108)
  block.write('0000000\0', 116)
  block.write(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`, 124)
  block.write('14540000000\0', 136)
  block.write(fields.type, 156)
  if (fields.linkname) block.write(fields.linkname, 157, 100, 'utf8')
  block.write(fields.gnu ? 'ustar  \0' : 'ustar\x0000', 257, 'binary')
  block.fill(' ', 148, 156)
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return block
}

/** GNU's way: a `././@LongLink` entry of type L (name) or K (link target) before the real header */
export const gnuLongHeader = (type: 'L' | 'K', value: string): Uint8Array[] => {
  const data = Buffer.from(`${value}\0`)
  return [tarHeader({ name: '././@LongLink', type, size: data.byteLength, gnu: true }), padded(data)]
}

/** the two zero blocks that end an archive */
export const endOfArchive = (): Uint8Array => new Uint8Array(1024)
