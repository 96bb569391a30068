/**
 * The file-format detectors: credentials files parsed, not grepped (file-format.ts says how they
 * read a file and why they win overlaps). They come first in the catalog.
 */
import type { FileFormatDetector } from './file-format.ts'
import { structuredCloudFileDetectors } from './structured-cloud-files.ts'
import { structuredLoginFileDetectors } from './structured-login-files.ts'
import { structuredPackageFileDetectors } from './structured-package-files.ts'

export const structuredFileDetectors: FileFormatDetector[] = [...structuredCloudFileDetectors, ...structuredPackageFileDetectors, ...structuredLoginFileDetectors]
