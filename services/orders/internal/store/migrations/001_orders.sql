-- One schema for SQLite and PostgreSQL: times are Unix microseconds (0 = unset),
-- JSON is TEXT, money is BIGINT cents.

-- Stock owned by the service, fed by hasura.public.inventory.* and decremented by completions.
CREATE TABLE stock (
    sku        TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    quantity   BIGINT NOT NULL CHECK (quantity >= 0),
    updated_us BIGINT NOT NULL
);

-- The last applied state of each order; changed_us keeps older changes from overwriting newer ones.
CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL,
    customer_email TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    items          TEXT NOT NULL,
    total_cents    BIGINT NOT NULL,
    created_us     BIGINT NOT NULL,
    changed_us     BIGINT NOT NULL,
    deleted_us     BIGINT NOT NULL DEFAULT 0
);

-- Payment state per order; may exist before the order does.
CREATE TABLE payments (
    order_id          TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    payment_intent_id TEXT NOT NULL,
    amount_cents      BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    failure_message   TEXT NOT NULL,
    receipt_email     TEXT NOT NULL,
    event_us          BIGINT NOT NULL
);

-- One shipment per order (the natural key behind "once in effect").
CREATE TABLE shipments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL UNIQUE,
    customer_id     TEXT NOT NULL,
    tracking_number TEXT NOT NULL UNIQUE,
    items           TEXT NOT NULL,
    total_cents     BIGINT NOT NULL,
    completed_us    BIGINT NOT NULL,
    created_us      BIGINT NOT NULL,
    invoice_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX shipments_unbilled ON shipments (invoice_id, completed_us);
CREATE INDEX shipments_by_customer ON shipments (customer_id, created_us);
CREATE INDEX shipments_by_time ON shipments (created_us, id);

-- Outbox of signed fulfillment webhooks, one per shipment.
CREATE TABLE fulfillment_notifications (
    id               TEXT PRIMARY KEY,
    order_id         TEXT NOT NULL UNIQUE,
    shipment_id      TEXT NOT NULL UNIQUE,
    body             TEXT NOT NULL,
    traceparent      TEXT NOT NULL DEFAULT '',
    tracestate       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    last_status_code INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT NOT NULL,
    delivered_us     BIGINT NOT NULL DEFAULT 0,
    created_us       BIGINT NOT NULL
);
CREATE INDEX fulfillment_due ON fulfillment_notifications (status, next_attempt_us);
CREATE INDEX fulfillment_by_time ON fulfillment_notifications (created_us, id);

-- Outbox of follow-up events for PublisherService, written in the effect's transaction.
CREATE TABLE publish_outbox (
    event_id         TEXT PRIMARY KEY,
    type             TEXT NOT NULL,
    subject          TEXT NOT NULL,
    data             TEXT NOT NULL,
    caused_by_source TEXT NOT NULL DEFAULT '',
    caused_by_id     TEXT NOT NULL DEFAULT '',
    event_us         BIGINT NOT NULL,
    traceparent      TEXT NOT NULL DEFAULT '',
    tracestate       TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    next_attempt_us  BIGINT NOT NULL,
    published_us     BIGINT NOT NULL DEFAULT 0,
    created_us       BIGINT NOT NULL
);
CREATE INDEX publish_due ON publish_outbox (published_us, next_attempt_us);

CREATE TABLE subscriptions (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    stripe_customer_id  TEXT NOT NULL,
    status              TEXT NOT NULL,
    monthly_price_cents BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    started_us          BIGINT NOT NULL,
    ended_us            BIGINT NOT NULL DEFAULT 0
);

-- Exactly one invoice per customer and month.
CREATE TABLE invoices (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    month       TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    created_us  BIGINT NOT NULL,
    UNIQUE (customer_id, month)
);
CREATE INDEX invoices_by_time ON invoices (created_us, id);

CREATE TABLE invoice_lines (
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    kind         TEXT NOT NULL,
    reference    TEXT NOT NULL,
    description  TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, kind, reference)
);

-- One-time markers, e.g. that the demo catalogue was loaded.
CREATE TABLE markers (
    name       TEXT PRIMARY KEY,
    created_us BIGINT NOT NULL
);
