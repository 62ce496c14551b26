-- The archive outbox: one row per distinct signed document (content address), written in the
-- same moment the document's staged copy becomes durable, and kept after archiving as the
-- record of where it went. A row is never deleted: the audit (`kyso archive verify`) re-reads
-- archived objects against it.
CREATE TABLE archive_outbox (
    id              INTEGER PRIMARY KEY,
    -- SHA-256 of the bytes, lowercase hex: the document's identity and the tail of its key.
    sha256          TEXT    NOT NULL UNIQUE CHECK (length(sha256) = 64),
    size            INTEGER NOT NULL CHECK (size >= 0),
    -- Document kind (retention is chosen by it), commune code and date: the readable key part.
    kind            TEXT    NOT NULL,
    commune         TEXT    NOT NULL,
    doc_date        TEXT    NOT NULL,
    object_key      TEXT    NOT NULL UNIQUE,
    -- Where the document came from (a file name), for people reading status.
    source          TEXT,
    -- pending: not yet tried (or in flight); failed: last attempt failed, retried after
    -- next_attempt_ms; archived: in the store, bytes acknowledged against the checksum.
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed', 'archived')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    -- Where it was archived (store description) and what retention the store applied.
    store           TEXT,
    retention       TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    archived_at     TEXT,
    CHECK ((state = 'archived') = (archived_at IS NOT NULL))
);
CREATE INDEX archive_outbox_due ON archive_outbox(state, next_attempt_ms);
