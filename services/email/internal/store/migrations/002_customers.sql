-- The customer directory: each users row's current address and name, kept from
-- the hasura.public.users.* events (in the transaction that marks the event
-- processed), so orders facts that carry only customer_id can be addressed.
-- Events arrive in any order: a change applies only when it is not older than
-- the stored one by (changed_at, op_rank); op_rank 1 insert, 2 update, 3 delete
-- orders the events of one transaction, which share Hasura's created_at.
-- A deleted row stays as a tombstone (deleted = 1, no address).
CREATE TABLE customers (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    changed_at   BIGINT NOT NULL,
    op_rank      INTEGER NOT NULL,
    event_source TEXT NOT NULL,
    event_id     TEXT NOT NULL
);
