-- The archive's renewal of long-term material (issue 15). A document timestamp proves what it
-- covers only until its TSA certificate expires or one of its algorithms reaches its end date in
-- the dated policy (src/ltv/policy.rs); before then the archive worker adds a new DSS and a new
-- document timestamp over the newest archived version, as a new archive version of the same
-- document. The registered versions (document_versions) stay as delivered.
--
-- Per registered document: the version delivered (its newest signed version), the newest
-- archived version extending it (the head: the delivered one, its owed long-term version, or the
-- last renewal) and until when the head's newest timestamp proves it.
CREATE TABLE ltv_schedule (
    document_id      TEXT    PRIMARY KEY REFERENCES documents(id),
    delivered_sha256 TEXT    NOT NULL CHECK (length(delivered_sha256) = 64),
    head_sha256      TEXT    NOT NULL CHECK (length(head_sha256) = 64),
    -- RFC 3339, and why (the TSA certificate's expiry, or an algorithm's end date); NULL when
    -- the head has no timestamp at all.
    deadline         TEXT,
    deadline_reason  TEXT,
    -- Not looked at again before this time (RFC 3339): after a failure, or a renewal that could
    -- not move the deadline beyond the margin.
    retry_after      TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    updated_at       TEXT    NOT NULL
);
-- Each renewal made: the new archive version (its outbox row) and what it extended.
CREATE TABLE ltv_renewals (
    sha256           TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
    document_id      TEXT    NOT NULL REFERENCES documents(id),
    delivered_sha256 TEXT    NOT NULL,
    previous_sha256  TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    deadline         TEXT    NOT NULL,
    deadline_reason  TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);
CREATE INDEX ltv_renewals_by_document ON ltv_renewals(document_id, created_at);
