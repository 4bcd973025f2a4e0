-- Messages are recorded (status queued, fully rendered) in the same transaction
-- as processed_events, before anything is sent. Times are Unix microseconds,
-- the same on SQLite and PostgreSQL. raw is 7-bit text (quoted-printable bodies).
CREATE TABLE messages (
    id             TEXT PRIMARY KEY,
    message_id     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    failure_reason TEXT NOT NULL DEFAULT '',
    from_addr      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    event_source   TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    trace_id       TEXT NOT NULL DEFAULT '',
    attempts       INTEGER NOT NULL DEFAULT 0,
    transport      TEXT NOT NULL DEFAULT '',
    raw            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    sent_at        BIGINT,
    -- A sender holds the row until lease_until; claim_token names the holder.
    lease_until    BIGINT,
    claim_token    TEXT,
    UNIQUE (event_source, event_id, kind)
);

CREATE INDEX messages_by_time ON messages (created_at, id);
CREATE INDEX messages_by_event_id ON messages (event_id);
CREATE INDEX messages_by_status ON messages (status, created_at);

CREATE TABLE message_recipients (
    message_id    TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    address       TEXT NOT NULL,
    address_lower TEXT NOT NULL,
    PRIMARY KEY (message_id, position)
);

CREATE INDEX message_recipients_by_address ON message_recipients (address_lower);

CREATE TABLE verified_addresses (
    user_id     TEXT NOT NULL,
    email       TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, email)
);
