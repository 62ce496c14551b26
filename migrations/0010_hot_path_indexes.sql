-- Indexes for the statements that run on every request or every archive worker poll, so that
-- their cost stays the same as the register grows (a commune adds thousands of documents a
-- year; a province node millions). Each names the statement it serves.

-- Signing finds the register entry from the SHA-256 of the PDF it is given, and public
-- verification looks a delivered file up the same way.
CREATE INDEX documents_by_pdf_sha256 ON documents(pdf_sha256) WHERE pdf_sha256 IS NOT NULL;

-- Every issue first voids documents left pending by an interrupted render: only pending rows
-- are in this index, and there are almost never any.
CREATE INDEX documents_pending ON documents(created_at) WHERE status = 'pending';

-- The signing queues: the field an issued document waits for next (the official's, then the
-- seal's), kept by issuing and signing, so that a queue reads the documents waiting in it and
-- not every document ever issued. Documents issued before this migration get it from their
-- signed versions, by the same order (issuing::SIGNING_ORDER).
ALTER TABLE documents ADD COLUMN awaiting_field TEXT;
UPDATE documents SET awaiting_field = CASE
    WHEN NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = documents.id
                       AND v.stage = 'signed' AND v.field = 'ChuKyLanhDao') THEN 'ChuKyLanhDao'
    WHEN NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.document_id = documents.id
                       AND v.stage = 'signed' AND v.field = 'DauCoQuan') THEN 'DauCoQuan'
    END
 WHERE status = 'issued';
CREATE INDEX documents_awaiting ON documents(awaiting_field, created_at)
    WHERE awaiting_field IS NOT NULL;

-- The archive worker's polls and the archive status read only what is still waiting; archived
-- rows (all but a few) stay out of the index.
CREATE INDEX archive_outbox_waiting ON archive_outbox(id, next_attempt_ms) WHERE state != 'archived';

-- Each sign-in forgets expired sessions and old login failures.
CREATE INDEX sessions_by_last_seen ON sessions(last_seen);
CREATE INDEX sessions_by_created_at ON sessions(created_at);
CREATE INDEX login_failures_by_time ON login_failures(at);
