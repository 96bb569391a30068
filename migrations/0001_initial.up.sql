-- layerleak storage, schema 1.
-- Current state is deduplicated: one row per repository, manifest, layer, (repository, tag, digest),
-- (manifest_digest, fingerprint) finding and occurrence identity; re-scans move last_seen_at.
-- scan_runs is the append-only history: one redacted snapshot of each result.
-- Runs on PostgreSQL >= 15 and on PGlite: plain SQL, no extensions.

create table repositories (
  id bigint generated always as identity primary key,
  registry text not null,
  -- the repository path inside its registry: `library/alpine`
  name text not null,
  first_seen_at timestamptz not null default now(),
  last_scanned_at timestamptz,
  constraint repositories_registry_name_key unique (registry, name)
);

-- image manifests and indexes, content-addressed
create table manifests (
  digest text primary key,
  media_type text,
  -- `linux/amd64`; null for an index
  platform text,
  config_digest text,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);

create table repository_manifests (
  repository_id bigint not null references repositories (id) on delete cascade,
  manifest_digest text not null references manifests (digest) on delete cascade,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  primary key (repository_id, manifest_digest)
);
create index repository_manifests_manifest_digest_idx on repository_manifests (manifest_digest);

-- a tag that moves keeps its history: one row per digest it ever pointed at
create table tags (
  id bigint generated always as identity primary key,
  repository_id bigint not null references repositories (id) on delete cascade,
  tag text not null,
  digest text not null,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  constraint tags_repository_tag_digest_key unique (repository_id, tag, digest)
);
create index tags_digest_idx on tags (digest);

-- layers, content-addressed; scanned_at + detector_catalog_version say a layer needs no re-scan
-- until the catalog changes
create table layers (
  digest text primary key,
  size bigint,
  media_type text,
  first_seen_at timestamptz not null default now(),
  scanned_at timestamptz,
  detector_catalog_version text
);

create table findings (
  id bigint generated always as identity primary key,
  -- the repository the finding was first seen in; a manifest shared by repositories links through
  -- repository_manifests
  repository_id bigint references repositories (id) on delete set null,
  manifest_digest text not null references manifests (digest) on delete cascade,
  fingerprint text not null,
  detector_name text not null,
  confidence text not null check (confidence in ('low', 'medium', 'high')),
  disposition text not null check (disposition in ('actionable', 'suppressed')),
  disposition_reason text not null default '',
  redacted_value text not null,
  -- only written when LAYERLEAK_PERSIST_RAW_SECRETS=1; never returned by the API
  raw_value text,
  occurrence_count integer not null default 0,
  actionable_occurrence_count integer not null default 0,
  suppressed_occurrence_count integer not null default 0,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  constraint findings_manifest_digest_fingerprint_key unique (manifest_digest, fingerprint)
);
create index findings_manifest_digest_disposition_idx on findings (manifest_digest, disposition, last_seen_at desc, id desc);
create index findings_repository_id_idx on findings (repository_id);

create table finding_occurrences (
  id bigint generated always as identity primary key,
  finding_id bigint not null references findings (id) on delete cascade,
  -- sha256 of (layer_digest, file_path, source_type, key, line_number, match_start, platform): paths
  -- can be longer than a btree entry may be, so uniqueness goes through the hash
  identity_key text not null,
  detector_name text not null,
  confidence text not null check (confidence in ('low', 'medium', 'high')),
  disposition text not null check (disposition in ('actionable', 'suppressed')),
  disposition_reason text not null default '',
  source_type text not null,
  platform text not null default '',
  file_path text not null default '',
  layer_digest text not null default '',
  layer_index integer not null default -1,
  build_step text not null default '',
  key text not null default '',
  line_number integer not null default 0,
  match_start bigint not null default 0,
  match_end bigint not null default 0,
  source_location text not null default '',
  context_snippet text not null default '',
  present_in_final_image boolean not null,
  -- only written when LAYERLEAK_PERSIST_RAW_SECRETS=1; never returned by the API
  raw_value text,
  raw_context_snippet text,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  constraint finding_occurrences_finding_identity_key unique (finding_id, identity_key)
);
create index finding_occurrences_layer_digest_idx on finding_occurrences (layer_digest);

-- append-only: every write of a result adds a row; only its own storage_status is updated after
create table scan_runs (
  id bigint generated always as identity primary key,
  repository_id bigint references repositories (id) on delete set null,
  registry text not null default '',
  repository text not null default '',
  requested_reference text not null,
  resolved_reference text not null default '',
  mode text not null check (mode in ('reference', 'repository')),
  -- the scan's status, downgraded to partial/failed when storing it failed part-way
  status text not null check (status in ('completed', 'partial', 'failed')),
  -- writing -> complete, or partial/failed when a target could not be stored
  storage_status text not null default 'writing' check (storage_status in ('writing', 'complete', 'partial', 'failed')),
  storage_error text,
  started_at timestamptz not null,
  finished_at timestamptz,
  duration_ms bigint,
  scanner_version text not null default '',
  detector_catalog_version text not null default '',
  target_count integer not null default 0,
  manifest_count integer not null default 0,
  total_findings integer not null default 0,
  unique_fingerprints integer not null default 0,
  suppressed_findings_count integer not null default 0,
  layers_scanned integer not null default 0,
  layers_failed integer not null default 0,
  result_schema_version integer not null,
  -- the result JSON with every raw value stripped, whatever LAYERLEAK_PERSIST_RAW_SECRETS says
  result_json jsonb not null,
  recorded_at timestamptz not null default now()
);
create index scan_runs_repository_id_idx on scan_runs (repository_id, id desc);
