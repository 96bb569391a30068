/** Media types of the OCI image-spec and Docker's distribution formats. */
export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  inToto: 'application/vnd.in-toto+json',
} as const

export const isIndexMediaType = (mediaType: string): boolean =>
  mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList

export const isManifestMediaType = (mediaType: string): boolean =>
  mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest

export const isSchema1MediaType = (mediaType: string): boolean =>
  mediaType === MediaTypes.dockerManifestV1 || mediaType === MediaTypes.dockerManifestV1Signed

/** Foreign (Windows base) and non-distributable layers: registries often may not serve them. */
export const isForeignLayerMediaType = (mediaType: string): boolean =>
  mediaType === MediaTypes.dockerLayerForeign || mediaType.includes('.nondistributable.')

/** The Accept header for manifest requests: every format we read, most specific first. */
export const manifestAccept = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestV1Signed,
  MediaTypes.dockerManifestV1,
].join(', ')
