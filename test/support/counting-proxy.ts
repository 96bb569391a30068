/**
 * A plain HTTP proxy in front of the test registry that counts the body bytes it sends back for
 * each blob, so a test can prove a command stopped downloading early: bytes are forwarded with
 * backpressure, so what the proxy sends is what the client pulled (plus socket buffers).
 */
import { createServer, request, type Server } from 'node:http'

export interface CountingProxy {
  /** `127.0.0.1:PORT`, usable as the registry host of an image reference */
  host: string
  /** body bytes sent for requests whose path contains `digest` */
  bytesSentFor(digest: string): number
  close(): Promise<void>
}

export const startCountingProxy = async (upstreamHost: string): Promise<CountingProxy> => {
  const [upstreamName, upstreamPort] = upstreamHost.split(':')
  const sent = new Map<string, number>()
  const server: Server = createServer((incoming, outgoing) => {
    const path = incoming.url ?? '/'
    const upstream = request(
      { host: upstreamName, port: Number(upstreamPort), method: incoming.method, path, headers: { ...incoming.headers, host: upstreamHost } },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers)
        response.on('data', (chunk: Buffer) => {
          sent.set(path, (sent.get(path) ?? 0) + chunk.byteLength)
          if (!outgoing.write(chunk)) {
            response.pause()
            outgoing.once('drain', () => response.resume())
          }
        })
        response.on('end', () => outgoing.end())
        response.on('error', () => outgoing.destroy())
      },
    )
    upstream.on('error', () => outgoing.destroy())
    // the client went away (it stopped reading): stop pulling from the registry too
    outgoing.on('close', () => upstream.destroy())
    incoming.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    host: `127.0.0.1:${port}`,
    bytesSentFor: (digest) => [...sent.entries()].filter(([path]) => path.includes(digest)).reduce((sum, [, bytes]) => sum + bytes, 0),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
