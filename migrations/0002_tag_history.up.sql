-- layerleak storage, schema 2: tag moves and zombie layers (`layerleak watch`).
-- A tag's digest history stays in `tags` (one row per digest it ever pointed at); a move from one
-- digest to the next is a `tag_moves` row. The layers the old image had and the new one has not
-- are `zombie_layers`: no tag references them any more, yet a registry serves them by digest until
-- its garbage collector runs (weeks, on the big registries). Their findings are ordinary findings
-- of the old manifest, with occurrences of source_type `zombie_layer`.

create table tag_moves (
  id bigint generated always as identity primary key,
  repository_id bigint not null references repositories (id) on delete cascade,
  tag text not null,
  old_digest text not null,
  new_digest text not null,
  -- the last time the tag was seen at old_digest: it moved after this
  old_last_seen_at timestamptz,
  -- the first time the tag was seen at new_digest: it moved at or before this
  moved_at timestamptz not null,
  detected_at timestamptz not null default now(),
  -- set once the layers of both images were compared (or could not be, for good: see analysis_note)
  analyzed_at timestamptz,
  analysis_attempts integer not null default 0,
  -- why no zombie layers were looked for: the old image is still tagged, its manifest is gone...
  analysis_note text,
  constraint tag_moves_repository_tag_move_key unique (repository_id, tag, old_digest, new_digest, moved_at)
);
create index tag_moves_repository_moved_at_idx on tag_moves (repository_id, moved_at desc, id desc);
create index tag_moves_pending_analysis_idx on tag_moves (repository_id) where analyzed_at is null;

create table zombie_layers (
  id bigint generated always as identity primary key,
  repository_id bigint not null references repositories (id) on delete cascade,
  tag_move_id bigint not null references tag_moves (id) on delete cascade,
  layer_digest text not null,
  media_type text not null default '',
  size bigint,
  tag text not null,
  -- the tag's digests before and after the move (an index or an image manifest each)
  old_manifest_digest text not null,
  new_manifest_digest text not null,
  moved_at timestamptz not null,
  -- the image manifest of the old image that lists the layer (a platform of the old index, or the
  -- old manifest itself), its platform, the layer's position and the build step that wrote it
  source_manifest_digest text not null,
  platform text not null default '',
  layer_index integer not null,
  build_step text not null default '',
  -- retrievable: the registry serves it, not scanned yet; scanned; failed: could not be read;
  -- gone: the registry no longer serves it (whatever was found before stays counted)
  status text not null check (status in ('retrievable', 'gone', 'scanned', 'failed')),
  status_detail text,
  scan_attempts integer not null default 0,
  scanned_at timestamptz,
  scan_run_id bigint references scan_runs (id) on delete set null,
  -- findings with an occurrence in this layer
  findings integer not null default 0,
  suppressed_findings integer not null default 0,
  detected_at timestamptz not null,
  last_checked_at timestamptz not null,
  gone_at timestamptz,
  constraint zombie_layers_move_layer_key unique (tag_move_id, layer_digest)
);
create index zombie_layers_repository_status_idx on zombie_layers (repository_id, status);
create index zombie_layers_repository_layer_idx on zombie_layers (repository_id, layer_digest);
-- the current digest of a tag is its row with the latest last_seen_at
create index tags_repository_tag_last_seen_idx on tags (repository_id, tag, last_seen_at desc);
