-- layerleak storage, schema 3: the clean-layer cache (plugins/sinks/layer-cache.ts).
-- A layer read to its end without a single match, under a detector catalog version, needs no
-- second download while that catalog stays: what a later scan still needs of it is its changeset,
-- the paths it adds, deletes (whiteouts) and clears (opaque directories), since those decide what
-- lower layers' findings are still present in the final image. Layers with matches never come
-- here: raw values are never stored to re-attach, so those are read again.
--
-- One row per (layer, catalog version): a new catalog reads every layer again, and rows of a
-- catalog no longer in use can be deleted at will (a missing row only costs a download).
-- The changeset is one json document (json, not jsonb: written and read whole, never queried
-- inside, and a 50,000-path document is several times cheaper to store as checked text than to
-- convert):
--   {"entries": ["etc", "etc/passwd", ...], "directories": "10...", "whiteouts": [...], "opaque_directories": [...]}
-- `directories` holds one character per entry, `1` where that entry is a directory: the entries
-- keep their archive order without a [path, flag] pair per path.
create table layer_changesets (
  layer_digest text not null,
  detector_catalog_version text not null,
  -- what reading the layer covered: regular files scanned and their bytes
  files bigint not null,
  bytes bigint not null,
  -- entries + whiteouts + opaque directories: a layer's size in paths at a glance
  path_count integer not null,
  changeset json not null,
  scanned_at timestamptz not null,
  primary key (layer_digest, detector_catalog_version)
);
do $$
begin
  -- lz4 where the server has it (PGlite has not, and keeps pglz): faster both ways on large path lists
  alter table layer_changesets alter column changeset set compression lz4;
exception when feature_not_supported then
  null;
end
$$;
