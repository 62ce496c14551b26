-- Authority: who may sign what, in their own right or under a delegation (Decree 30/2020 Art. 13),
-- the audit log, and signatures prepared for external signers (tokens, remote services).

CREATE TABLE officials (
    id          TEXT PRIMARY KEY,            -- short handle chosen by the admin, e.g. 'chu-tich'
    full_name   TEXT NOT NULL,
    title       TEXT NOT NULL,               -- e.g. 'Chủ tịch', 'Phó Chủ tịch'
    agency      TEXT NOT NULL,               -- e.g. 'UBND xã Tân Lạc'
    citizen_id  TEXT,                        -- 12-digit personal ID; NULL for the agency seal
    is_seal     INTEGER NOT NULL DEFAULT 0 CHECK (is_seal IN (0, 1)),
    created_at  TEXT NOT NULL
);

CREATE TABLE official_certificates (
    fingerprint  TEXT PRIMARY KEY,           -- SHA-256 of the DER, hex
    official_id  TEXT NOT NULL REFERENCES officials(id),
    der          BLOB NOT NULL,
    key_location TEXT NOT NULL,              -- 'file:PATH', 'pkcs11:URI' or 'external'
    not_before   TEXT NOT NULL,
    not_after    TEXT NOT NULL,
    added_at     TEXT NOT NULL
);

-- Which document kinds a title signs in its own right.
CREATE TABLE title_powers (
    title TEXT NOT NULL,
    kind  TEXT NOT NULL,
    PRIMARY KEY (title, kind)
);

CREATE TABLE delegations (
    id             INTEGER PRIMARY KEY,
    mark           TEXT NOT NULL CHECK (mark IN ('TM', 'KT', 'TL', 'TUQ', 'Q')),
    delegator_id   TEXT NOT NULL REFERENCES officials(id),
    delegate_id    TEXT NOT NULL REFERENCES officials(id),
    scope          TEXT NOT NULL,            -- JSON array of document kinds
    valid_from     TEXT NOT NULL,            -- RFC 3339
    valid_until    TEXT NOT NULL,
    basis_number   TEXT NOT NULL,            -- decision number, e.g. '15/QĐ-UBND'
    basis_date     TEXT NOT NULL,            -- YYYY-MM-DD
    grant_der      BLOB NOT NULL,            -- RFC 5755 attribute certificate signed by the delegator
    granted_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,                 -- JSON
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE pending_signatures (
    handle         TEXT PRIMARY KEY,
    prepared       BLOB NOT NULL,            -- the PDF with its placeholder
    contents_start INTEGER NOT NULL,
    contents_end   INTEGER NOT NULL,
    field          TEXT NOT NULL,
    signed_attrs   BLOB NOT NULL,            -- DER SET OF Attribute: what the external key signs
    certificates   TEXT NOT NULL,            -- JSON array of hex DER: signer first, then chain
    algorithm      TEXT NOT NULL,
    official_id    TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    completed_at   TEXT
);
