-- People who use kyso over HTTP (`kyso serve`): users with a role, their sessions and API tokens,
-- and the failed sign-ins that throttle guessing. Secrets are never stored: passwords as argon2id
-- PHC strings, session cookies and API tokens as the SHA-256 of the random value handed out.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    -- clerk: issue, reprint, cancel, look up; official: sign what the register allows the linked
    -- official; seal: apply the agency seal; admin: users, officials, certificates, delegations,
    -- audit.
    role          TEXT NOT NULL CHECK (role IN ('clerk', 'official', 'seal', 'admin')),
    -- The official record a signer acts as: signing as someone else is impossible because the
    -- official comes from here, never from the request.
    official_id   TEXT REFERENCES officials(id),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT NOT NULL,
    CHECK ((role IN ('official', 'seal')) = (official_id IS NOT NULL))
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY CHECK (length(token_sha256) = 64),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen    TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    user_id      INTEGER NOT NULL REFERENCES users(id),
    -- A token acts with this role, which is the user's role (a token never widens rights).
    role         TEXT NOT NULL CHECK (role IN ('clerk', 'official', 'seal', 'admin')),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

-- Failed sign-ins, by account and by client address ('user:NAME', 'addr:IP').
CREATE TABLE login_failures (
    subject TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX login_failures_by_subject ON login_failures(subject, at);
