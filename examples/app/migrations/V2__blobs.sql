-- The PostgreSQL storage backend (STORAGE_URL unset): files in 1 MiB chunks, so an upload
-- streams in chunk by chunk and a byte range reads only the chunks it covers. A blob row is
-- written last: a file whose upload did not finish has chunks and no row.
CREATE SEQUENCE blob_ids;

CREATE TABLE blobs (
    key        text PRIMARY KEY,
    blob_id    bigint NOT NULL UNIQUE,
    size       bigint NOT NULL,
    sha256     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blob_chunks (
    blob_id    bigint NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blob_id, seq)
);
-- Media files do not compress: store chunks uncompressed, which also lets substring()
-- read a slice of a chunk without detoasting all of it.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
