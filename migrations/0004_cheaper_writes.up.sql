-- layerleak storage, schema 4: storing a scan result costs less (bench/persist.bench.ts).
--
-- The scan_runs snapshot becomes json rather than jsonb: json keeps the text as written (checked,
-- not converted), while building jsonb out of a 9 MB result took ~150 ms of server time on its
-- own, the largest single part of a write. Nothing queries inside snapshots; `result_json::jsonb`
-- does when someone needs to. lz4 compresses it several times faster than the default pglz, where
-- the server has lz4 (PostgreSQL >= 14 built with it, as Debian's is; PGlite is not, and keeps pglz).
alter table scan_runs alter column result_json type json using result_json::json;
do $$
begin
  alter table scan_runs alter column result_json set compression lz4;
exception when feature_not_supported then
  null;
end
$$;

-- Every re-scan moves last_seen_at on every occurrence it sees again. No index holds that column,
-- so with room left on the row's page the new row version stays there (a HOT update) and none of
-- the table's three indexes gets a new entry: a 10,000-occurrence re-scan updated in ~25 ms
-- rather than ~120 ms. Pages filled to half leave that room; pages written before this keep theirs.
alter table finding_occurrences set (fillfactor = 50);
