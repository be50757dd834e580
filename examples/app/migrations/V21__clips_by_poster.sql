-- Deleting an asset sets the poster of its clips to NULL: without an index on the foreign
-- key, every such delete scans the whole clips table.
CREATE INDEX clips_by_poster ON clips (poster_asset_id);
