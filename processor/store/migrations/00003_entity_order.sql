-- The sender's order of events (a source's order_key) for the entity fence:
-- compared first when both the stored and the new event have one; NULL when
-- the source has no order_key or the body had no usable value, and then
-- arrival (last_received_at, last_event_id) decides. Nullable and last, so
-- adding it is an instant change on MariaDB 10.3+ and MySQL 8.0.
-- Fraction to the nanosecond; 19 integer digits hold any int64.

-- +goose Up
ALTER TABLE webhook_entities
    ADD COLUMN last_order DECIMAL(28,9) NULL COMMENT 'fence: the sender''s order of the applied event (order_key), compared before arrival';

-- +goose Down
ALTER TABLE webhook_entities DROP COLUMN last_order;
