-- The use-case layer (src/app): what the register needs to decide authority by itself and to
-- record every issued or signed file before it leaves kyso.

-- Officials get a structured place in the commune (Decree 30/2020 Art. 13 names who may grant
-- what by position): 'head' (Chủ tịch), 'deputy-head' (Phó Chủ tịch), 'unit-head' (e.g. Chánh
-- Văn phòng), 'unit-deputy' (Phó Chánh Văn phòng), 'staff', or 'seal' for the agency seal; and
-- the unit they belong to ('' for the committee's leadership itself).
ALTER TABLE officials ADD COLUMN position TEXT NOT NULL DEFAULT 'staff'
    CHECK (position IN ('head', 'deputy-head', 'unit-head', 'unit-deputy', 'staff', 'seal'));
ALTER TABLE officials ADD COLUMN unit TEXT NOT NULL DEFAULT '';
UPDATE officials SET position = 'seal' WHERE is_seal = 1;
-- A citizen ID belongs to one person.
CREATE UNIQUE INDEX officials_citizen_id ON officials(citizen_id) WHERE citizen_id IS NOT NULL;

-- A derived grant (a TL. holder's KT. to their own deputy) names its source; it ends when its
-- source ends or is revoked.
ALTER TABLE delegations ADD COLUMN source_id INTEGER REFERENCES delegations(id);

-- Every version of a registered document that left kyso: the issued PDF and each signed one,
-- by content. Signing finds the register entry by the SHA-256 of the revision it was issued as.
CREATE TABLE document_versions (
    sha256      TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    document_id TEXT NOT NULL REFERENCES documents(id),
    -- 'issued' (as rendered and numbered) or 'signed' (after a signature kyso made).
    stage       TEXT NOT NULL CHECK (stage IN ('issued', 'signed')),
    size        INTEGER NOT NULL CHECK (size >= 0),
    -- The field signed and who signed it (official id, or the certificate's name when no
    -- authority was checked); NULL for the issued version.
    field       TEXT,
    signer      TEXT,
    -- The capacity written into the signature ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"), when authority
    -- was checked: what the public verification page shows.
    capacity    TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX document_versions_by_document ON document_versions(document_id, created_at);

-- A prepared (deferred) signature remembers what it was decided for, so that completing it
-- records the same register entry, kind and capacity.
ALTER TABLE pending_signatures ADD COLUMN document_id TEXT REFERENCES documents(id);
ALTER TABLE pending_signatures ADD COLUMN decision TEXT NOT NULL DEFAULT '{}';
