-- Long-term material owed (issue 15): a signature delivered while no OCSP responder, CRL server or
-- TSA answered is a valid B-B or B-T signature whose DSS and document timestamp are still owed.
-- One row per delivered file (its outbox row's digest); the archive drain adds the material when
-- the link returns and records the long-term version it submitted to the archive beside it. The
-- delivered file stays as it was.
CREATE TABLE ltv_owed (
    sha256          TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
    level           TEXT    NOT NULL CHECK (level IN ('b-lt', 'b-lta')),
    reasons         TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    last_error      TEXT,
    -- The long-term version (its own outbox row) once added.
    settled_sha256  TEXT,
    settled_at      TEXT,
    CHECK ((settled_sha256 IS NULL) = (settled_at IS NULL))
);
CREATE INDEX ltv_owed_open ON ltv_owed(settled_at);
