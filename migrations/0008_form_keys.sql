-- The keys of forms that issue or sign (the pages of `kyso serve`): the first submission with a
-- key claims it and records what it produced; a second one (a double click, a reload, a retry
-- after a restart or on another node behind the same registry) finds the claim and is answered
-- with that result instead of issuing or signing again. A failed submission releases its claim,
-- so that the corrected form can be sent with the same key. Rows are kept for a day.

CREATE TABLE form_keys (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    form_key   TEXT NOT NULL CHECK (length(form_key) BETWEEN 16 AND 64),
    -- What the first submission produced (a document id); NULL while it runs.
    result     TEXT,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, form_key)
);
CREATE INDEX form_keys_by_time ON form_keys(claimed_at);
