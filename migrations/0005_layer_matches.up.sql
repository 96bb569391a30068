-- layerleak storage, schema 5: layers with matches join the layer cache (plugins/sinks/layer-cache.ts).
-- A layer read to its end with matches, under a detector catalog version, needs no second download
-- either: a later scan needs its changeset (as for a clean layer) and its matches, which it
-- re-attaches to whichever manifest reuses the layer. Raw values are never stored: each match is
-- kept as a result shows it (fingerprint, redacted value, redacted context snippet, where it is)
-- with the filters' verdicts for both places the file can stand (in the final image, or deleted by
-- a later layer: which one holds depends on the manifest).
--
-- Verdicts and fingerprints hold for one set of filters and one fingerprint key: the filter
-- signature (a sha256 over the filters' cache keys, the fingerprint key's own sha256 and
-- layerleak's version) is part of the key, and a scan under another signature reads the layer
-- again. Its own table rather than a column of layer_changesets: a layerleak from before this
-- migration reads layer_changesets as "clean layers" and must never find a layer with matches there.
--
-- Both documents are json (written and read whole, never queried inside):
--   changeset: as in layer_changesets
--   matches:   [{"detector": "github-pat", "confidence": "high", "key": "", "path": "app/.env",
--                "entry_path": "app/.env" (only when it differs from path), "line": 2, "start": 13,
--                "end": 53, "fingerprint": "<64 hex>", "redacted_value": "ghp********",
--                "snippet": "TOKEN=ghp********", "final": {"disposition": "actionable", "reason": ""},
--                "deleted": {"disposition": "actionable", "reason": ""}}, ...]
create table layer_matches (
  layer_digest text not null,
  detector_catalog_version text not null,
  filter_signature text not null,
  files bigint not null,
  bytes bigint not null,
  path_count integer not null,
  match_count integer not null,
  changeset json not null,
  matches json not null,
  scanned_at timestamptz not null,
  primary key (layer_digest, detector_catalog_version, filter_signature)
);
do $$
begin
  alter table layer_matches alter column changeset set compression lz4;
  alter table layer_matches alter column matches set compression lz4;
exception when feature_not_supported then
  null;
end
$$;
