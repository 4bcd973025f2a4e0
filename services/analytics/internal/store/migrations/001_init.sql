-- Raw events, one row per applied (source, id), deleted after the retention period.
-- Times are Unix milliseconds (occurred_at) and seconds (hour), the same on both dialects.
CREATE TABLE analytics_events (
    source      TEXT   NOT NULL,
    event_id    TEXT   NOT NULL,
    event_type  TEXT   NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
    name        TEXT   NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    user_id     TEXT,
    occurred_at BIGINT NOT NULL,
    properties  TEXT   NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX analytics_events_occurred_at ON analytics_events (occurred_at);

-- Counts per UTC hour and name (an event type, or a tracked name when tracked = 1),
-- updated in the transaction that stores the raw event, and kept forever.
CREATE TABLE hourly_counts (
    hour    BIGINT   NOT NULL,
    name    TEXT     NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    tracked SMALLINT NOT NULL CHECK (tracked IN (0, 1)),
    n       BIGINT   NOT NULL,
    amount  BIGINT   NOT NULL,
    items   BIGINT   NOT NULL,
    PRIMARY KEY (hour, name)
);
CREATE INDEX hourly_counts_name ON hourly_counts (name, hour);

-- Users active per UTC hour, kept forever so distinct users of any day or week
-- survive the raw events' retention.
CREATE TABLE active_users (
    hour    BIGINT NOT NULL,
    user_id TEXT   NOT NULL,
    PRIMARY KEY (hour, user_id)
);
