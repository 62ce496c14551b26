-- Certification registers (sổ chứng thực, Decree 23/2015 Art. 13) and the documents numbered in
-- them. One register per (commune, year, type code, volume); numbering restarts at 1 each year and
-- a new volume in the same year continues the count. A number is allocated in the same
-- transaction that records its document, so no number is ever skipped or used twice, and a
-- document that fails to render stays in the register as void, with the reason.
CREATE TABLE registers (
    id           INTEGER PRIMARY KEY,
    commune_code TEXT    NOT NULL,
    year         INTEGER NOT NULL,
    type_code    TEXT    NOT NULL,
    volume       INTEGER NOT NULL CHECK (volume >= 1),
    first_number INTEGER NOT NULL CHECK (first_number >= 1),
    -- Highest number allocated in this volume; first_number - 1 while empty.
    last_number  INTEGER NOT NULL,
    opened_at    TEXT    NOT NULL,
    closed_at    TEXT,
    UNIQUE (commune_code, year, type_code, volume),
    CHECK (last_number >= first_number - 1)
);

CREATE TABLE documents (
    -- Stable public id: the QR code's verification URL ends with it.
    id               TEXT PRIMARY KEY,
    kind             TEXT    NOT NULL,
    template_version TEXT    NOT NULL,
    register_id      INTEGER NOT NULL REFERENCES registers(id),
    commune_code     TEXT    NOT NULL,
    year             INTEGER NOT NULL,
    type_code        TEXT    NOT NULL,
    number           INTEGER NOT NULL CHECK (number >= 1),
    -- The validated data (JSON) the document was rendered from.
    data             TEXT    NOT NULL,
    -- pending: numbered, rendering; issued; void: numbered but never issued (see void_reason);
    -- cancelled: issued, then cancelled by a decision of the commune Chairman.
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'issued', 'void', 'cancelled')),
    created_at       TEXT    NOT NULL,
    -- Day of issue in Vietnam (YYYY-MM-DD).
    issued_on        TEXT    NOT NULL,
    pdf_sha256       TEXT,
    void_reason      TEXT,
    cancel_decision  TEXT,
    cancel_reason    TEXT,
    cancelled_at     TEXT,
    UNIQUE (commune_code, year, type_code, number),
    CHECK (status <> 'void' OR void_reason IS NOT NULL),
    CHECK (status <> 'cancelled' OR cancel_decision IS NOT NULL)
);

CREATE INDEX documents_by_register ON documents (register_id, number);

-- The register is a legal record: entries are never deleted, their number and data never change,
-- and a status moves only forwards (pending → issued | void, issued → cancelled).
CREATE TRIGGER documents_never_deleted BEFORE DELETE ON documents
BEGIN
    SELECT RAISE(ABORT, 'documents in a register are never deleted');
END;

CREATE TRIGGER documents_fixed_entry
BEFORE UPDATE OF id, kind, template_version, register_id, commune_code, year, type_code, number, data, created_at, issued_on
ON documents
BEGIN
    SELECT RAISE(ABORT, 'a registered document keeps its number and data');
END;

CREATE TRIGGER documents_status_forward BEFORE UPDATE OF status ON documents
WHEN NOT ((OLD.status = 'pending' AND NEW.status IN ('issued', 'void'))
       OR (OLD.status = 'issued' AND NEW.status = 'cancelled'))
BEGIN
    SELECT RAISE(ABORT, 'document status can only move forwards');
END;
