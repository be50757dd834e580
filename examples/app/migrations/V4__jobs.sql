-- The job queue. Workers of every instance claim queued jobs with FOR UPDATE SKIP LOCKED and
-- hold a lease they renew while they work; a job whose lease ran out (its instance died) is
-- queued again. States: queued -> running -> succeeded | failed (bad input, not retried) |
-- queued again after a transient error (run_after = now + backoff) | dead (attempts used up).
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL,
    project_id       bigint REFERENCES projects (id) ON DELETE CASCADE,
    payload          jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    progress         real NOT NULL DEFAULT 0,
    last_error       text,
    result           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
-- The claim query and the pending count read only this small index.
CREATE INDEX jobs_queued ON jobs (run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_running_leases ON jobs (lease_expires_at) WHERE state = 'running';
