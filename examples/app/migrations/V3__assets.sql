-- Uploaded images and the renditions their jobs render.
CREATE TABLE assets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text,
    size         bigint NOT NULL,
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assets_by_project ON assets (project_id, id DESC);

CREATE TABLE renditions (
    asset_id    bigint NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    width       integer NOT NULL,
    height      integer NOT NULL,
    format      text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    storage_key text NOT NULL,
    PRIMARY KEY (asset_id, width, format)
);
