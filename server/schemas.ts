/**
 * The API's shapes, once: request bodies and query parameters are validated with these schemas,
 * and /openapi.json is generated from the very same objects (routes/openapi.ts), so the document
 * cannot drift from what the server accepts. Objects are strict: an unknown field is a 400, not a
 * silently ignored typo. Response schemas describe what the routes return (tests hold the routes
 * to them).
 */
import { z } from 'zod'
import { LayerleakError } from '../core/errors.ts'

const PLATFORM = /^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/i
const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i
/** a repository path as the distribution spec spells it: lower-case components joined by `/` */
export const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/

export const MAX_PAGE_LIMIT = 200

/** the named schemas: each becomes `#/components/schemas/<id>` in the OpenAPI document */
export const apiSchemas = z.registry<{ id: string }>()

/** A whole number in a query string: validated as text, handed on as a number. */
const queryInteger = (min: number, max: number, description: string) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .describe(description)

// ---- requests ----

export const scanRequestSchema = z
  .object({
    reference: z.string().min(1).max(512).describe('an image in a registry: `alpine:3.20`, `ghcr.io/org/app@sha256:…`, `registry.example.com:5000/team/app:1.2`. Local sources (`oci:`, `docker-archive:`…) are refused.'),
    platform: z.string().regex(PLATFORM, 'expected os/arch[/variant], e.g. linux/amd64').optional().describe('only this platform of a multi-platform image'),
    all_tags: z.boolean().optional().describe('sweep: the reference is a bare repository and every tag of it is scanned'),
  })
  .strict()
  .register(apiSchemas, { id: 'ScanRequest' })
export type ScanRequest = z.output<typeof scanRequestSchema>

export const scanQuerySchema = z
  .object({
    async: z.enum(['0', '1', 'true', 'false']).optional().describe('1: answer 202 at once with the scan id; poll GET /api/v1/scans/{id}'),
  })
  .strict()

export const pageQuerySchema = z
  .object({
    limit: queryInteger(1, MAX_PAGE_LIMIT, `page size, 1 to ${MAX_PAGE_LIMIT} (default 50)`),
    offset: queryInteger(0, 1_000_000_000, 'rows to skip (default 0)'),
  })
  .strict()

export const repositoryQuerySchema = pageQuerySchema
  .extend({
    registry: z.string().regex(REGISTRY, 'expected a registry host, e.g. docker.io or registry.example.com:5000').optional().describe('the registry of the repository (default docker.io)'),
  })
  .strict()

export const findingsQuerySchema = repositoryQuerySchema
  .extend({
    disposition: z.enum(['actionable', 'suppressed', 'all']).optional().describe('which findings (default actionable)'),
  })
  .strict()

export const idParamSchema = z.string().regex(/^[1-9]\d{0,15}$/, 'must be a positive whole number').describe('numeric id')

// ---- responses ----

export const errorSchema = z
  .object({
    error: z.object({ code: z.string().describe('stable machine code: INVALID_ARGUMENT, NOT_FOUND, UNAUTHORIZED, DENIED, RATE_LIMITED…'), message: z.string() }).strict(),
  })
  .strict()
  .register(apiSchemas, { id: 'Error' })

export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() }).strict().register(apiSchemas, { id: 'Health' })
export const readinessSchema = z
  .object({ status: z.literal('ready'), database: z.enum(['server', 'embedded']), schema: z.literal('current') })
  .strict()
  .register(apiSchemas, { id: 'Readiness' })

const confidence = z.enum(['low', 'medium', 'high'])
const disposition = z.enum(['actionable', 'suppressed'])
const scanStatus = z.enum(['completed', 'partial', 'failed'])
const timestamp = z.string().describe('ISO 8601')

export const occurrenceSchema = z
  .object({
    detector_name: z.string(),
    confidence,
    disposition,
    disposition_reason: z.string(),
    source_type: z.enum(['file_final', 'file_deleted_layer', 'env', 'label', 'history', 'config', 'zombie_layer']),
    platform: z.string(),
    file_path: z.string().describe('path inside the layer; `outer.jar!inner/path` for archive members; empty for config sources'),
    layer_digest: z.string(),
    layer_index: z.number().int().describe('-1 for config sources'),
    build_step: z.string().describe('the history step that wrote the layer'),
    key: z.string(),
    line_number: z.number().int(),
    match_start: z.number().int(),
    match_end: z.number().int(),
    source_location: z.string(),
    context_snippet: z.string().describe('redacted'),
    present_in_final_image: z.boolean().describe('false: a later layer deleted or replaced the file, but the layer still ships it'),
    zombie: z
      .object({ tag: z.string(), old_manifest_digest: z.string(), new_manifest_digest: z.string(), moved_at: z.string() })
      .strict()
      .optional()
      .describe('for source_type zombie_layer: the tag move that orphaned the layer'),
  })
  .strict()
  .register(apiSchemas, { id: 'Occurrence' })

export const resultFindingSchema = z
  .object({
    detector_name: z.string(),
    confidence,
    disposition,
    disposition_reason: z.string(),
    manifest_digest: z.string(),
    fingerprint: z.string(),
    redacted_value: z.string(),
    occurrence_count: z.number().int(),
    actionable_occurrence_count: z.number().int(),
    suppressed_occurrence_count: z.number().int(),
    first_seen_at: timestamp,
    last_seen_at: timestamp,
    occurrences: z.array(occurrenceSchema),
  })
  .strict()
  .register(apiSchemas, { id: 'ResultFinding' })

export const scanResultSchema = z
  .object({
    result_schema_version: z.number().int(),
    requested_reference: z.string(),
    repository: z.string(),
    registry: z.string(),
    mode: z.enum(['reference', 'repository']),
    resolved_reference: z.string(),
    status: scanStatus,
    scanned_at: timestamp,
    finished_at: timestamp,
    duration_ms: z.number(),
    scanner: z.object({ name: z.string(), version: z.string(), detector_catalog_version: z.string() }),
    target_count: z.number().int(),
    manifest_count: z.number().int(),
    total_findings: z.number().int().describe('actionable findings'),
    unique_fingerprints: z.number().int(),
    suppressed_findings_count: z.number().int(),
    targets: z.array(z.record(z.string(), z.unknown())).describe('each resolved target with its platform_results'),
    tag_results: z.array(z.record(z.string(), z.unknown())),
    coverage: z.record(z.string(), z.unknown()).describe('layers and files scanned, failed, skipped; limits hit'),
    diagnostics: z.array(z.object({ code: z.string(), scope: z.string(), subject: z.string(), message: z.string() })),
    findings: z.array(resultFindingSchema),
    suppressed_findings: z.array(resultFindingSchema),
  })
  // newer result versions may add fields: documented as open, never stripped of redaction
  .loose()
  .describe('the scan result JSON, as the CLI writes it, always redacted')
  .register(apiSchemas, { id: 'ScanResult' })

export const scanJobSchema = z
  .object({
    id: z.string().describe('the scan id: poll GET /api/v1/scans/{id}'),
    status: z.enum(['queued', 'running', 'completed', 'partial', 'failed']),
    reference: z.string(),
    platform: z.string().nullable(),
    all_tags: z.boolean(),
    queued_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
    scan_run_id: z.number().int().nullable().describe('the stored scan run, once the result is written'),
    error: errorSchema.shape.error.nullable(),
    result: scanResultSchema.nullable().describe('present once the scan has finished'),
  })
  .strict()
  .register(apiSchemas, { id: 'ScanJob' })

export const repositorySummarySchema = z
  .object({
    id: z.number().int(),
    registry: z.string(),
    name: z.string(),
    first_seen_at: timestamp,
    last_scanned_at: timestamp.nullable(),
    scan_count: z.number().int(),
    actionable_findings: z.number().int(),
    suppressed_findings: z.number().int(),
  })
  .strict()
  .register(apiSchemas, { id: 'Repository' })

export const scanRunSummarySchema = z
  .object({
    id: z.number().int(),
    registry: z.string(),
    repository: z.string(),
    requested_reference: z.string(),
    resolved_reference: z.string(),
    mode: z.enum(['reference', 'repository']),
    status: scanStatus,
    storage_status: z.string().describe('writing, complete, partial, failed: how much of the result reached the database'),
    started_at: timestamp,
    finished_at: timestamp.nullable(),
    duration_ms: z.number().nullable(),
    scanner_version: z.string(),
    detector_catalog_version: z.string(),
    target_count: z.number().int(),
    manifest_count: z.number().int(),
    total_findings: z.number().int(),
    unique_fingerprints: z.number().int(),
    suppressed_findings_count: z.number().int(),
    layers_scanned: z.number().int(),
    layers_failed: z.number().int(),
    recorded_at: timestamp,
  })
  .strict()
  .register(apiSchemas, { id: 'ScanRun' })

export const scanRunDetailSchema = scanRunSummarySchema
  .extend({ storage_error: z.string().nullable(), scan_run_id: z.number().int(), result: scanResultSchema })
  .strict()
  .register(apiSchemas, { id: 'ScanRunDetail' })

export const storedFindingSchema = z
  .object({
    id: z.number().int(),
    manifest_digest: z.string(),
    platform: z.string().nullable(),
    fingerprint: z.string(),
    detector_name: z.string(),
    confidence,
    disposition,
    disposition_reason: z.string(),
    redacted_value: z.string(),
    occurrence_count: z.number().int(),
    actionable_occurrence_count: z.number().int(),
    suppressed_occurrence_count: z.number().int(),
    first_seen_at: timestamp,
    last_seen_at: timestamp,
  })
  .strict()
  .register(apiSchemas, { id: 'Finding' })

export const storedOccurrenceSchema = occurrenceSchema
  .extend({ id: z.number().int(), first_seen_at: timestamp, last_seen_at: timestamp })
  .strict()
  .register(apiSchemas, { id: 'StoredOccurrence' })

export const findingDetailSchema = storedFindingSchema
  .extend({
    repositories: z.array(z.object({ registry: z.string(), name: z.string() }).strict()),
    occurrences: z.array(storedOccurrenceSchema),
  })
  .strict()
  .register(apiSchemas, { id: 'FindingDetail' })

const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }).strict().register(apiSchemas, { id })

export const repositoryPageSchema = pageOf(repositorySummarySchema, 'RepositoryPage')
export const scanRunPageSchema = pageOf(scanRunSummarySchema, 'ScanRunPage')
export const findingPageSchema = pageOf(storedFindingSchema, 'FindingPage')

/** `issues[0]` of a failed parse, as one line naming the field. */
export const describeIssue = (error: z.ZodError, where: string): string => {
  const issue = error.issues[0]
  if (issue.code === 'unrecognized_keys') return `${where}: unknown field${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `"${key}"`).join(', ')}`
  const path = issue.path.join('.')
  return `${where}${path ? ` field "${path}"` : ''}: ${issue.message}`
}

/** Validates `data` or throws INVALID_ARGUMENT (400) naming the field at fault. */
export const parseWith = <T extends z.ZodType>(schema: T, data: unknown, where: string): z.output<T> => {
  const parsed = schema.safeParse(data)
  if (!parsed.success) throw new LayerleakError('INVALID_ARGUMENT', describeIssue(parsed.error, where))
  return parsed.data
}
