-- Videos uploaded to a project and the clips their jobs cut. A clip's poster frame is an
-- asset (role 'poster'), so /img serves it with its renditions, negotiation and ETags like
-- any uploaded image; the image gallery lists only role 'image'.
CREATE TABLE videos (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text,
    size         bigint NOT NULL,
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- What ffprobe found, once a job has probed it.
    duration_seconds double precision,
    width        integer,
    height       integer,
    video_codec  text,
    audio_codec  text
);
CREATE INDEX videos_by_project ON videos (project_id, id DESC);

ALTER TABLE assets ADD COLUMN role text NOT NULL DEFAULT 'image'
    CHECK (role IN ('image', 'poster'));

CREATE TABLE clips (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id         bigint NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    -- The job that cut it: a retried or cancelled attempt deletes what it left by job.
    job_id           bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq              integer NOT NULL,
    start_seconds    double precision NOT NULL,
    end_seconds      double precision NOT NULL,
    -- As probed back from the file.
    duration_seconds double precision NOT NULL,
    width            integer NOT NULL,
    height           integer NOT NULL,
    size             bigint NOT NULL,
    sha256           text NOT NULL,
    storage_key      text NOT NULL,
    poster_asset_id  bigint REFERENCES assets (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, seq)
);
CREATE INDEX clips_by_video ON clips (video_id, id);

-- Cancellation: DELETE /api/jobs/{id} cancels a queued job at once and asks the worker of a
-- running one (on whichever instance) to stop; the worker polls this flag.
ALTER TABLE jobs ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'));

-- The project page looks up the newest job of each image and video of a project.
CREATE INDEX jobs_by_project ON jobs (project_id, id DESC);
