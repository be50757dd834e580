-- Deleting a project cascades to its jobs: without an index on the foreign key, every
-- delete scans the whole jobs table.
CREATE INDEX jobs_by_project ON jobs (project_id);
