-- +goose Up
-- The callback outbox: one row per stored event whose source has a
-- callback_url, written in the event's own transaction and sent after commit
-- by processor/callback. Keys are VARBINARY so they compare byte for byte on
-- MySQL and MariaDB alike. The URL and secret are not stored: the sender
-- reads them from the sources document when it sends.
CREATE TABLE webhook_callbacks (
    id              BIGINT UNSIGNED   NOT NULL AUTO_INCREMENT,
    source          VARBINARY(63)     NOT NULL,
    event_id        VARBINARY(255)    NOT NULL,
    event_type      VARBINARY(128)    NOT NULL,
    entity_key      VARBINARY(255)    NOT NULL DEFAULT '',
    received_at     DATETIME(6)       NOT NULL,
    processed_at    DATETIME(6)       NOT NULL,
    status          TINYINT UNSIGNED  NOT NULL DEFAULT 0 COMMENT '0 pending, 1 sent, 2 gone (410), 3 failed (attempts spent), 4 dropped (no callback_url any more)',
    attempts        SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)       NOT NULL COMMENT 'due time; a claim moves it to the end of its lease',
    claim           VARBINARY(16)     NULL COMMENT 'the claim of the sender holding it; NULL when nobody does',
    last_error      VARCHAR(255)      NOT NULL DEFAULT '',
    created_at      DATETIME(6)       NOT NULL,
    finished_at     DATETIME(6)       NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_webhook_callbacks_event (source, event_id),
    KEY ix_webhook_callbacks_due (status, source, next_attempt_at),
    KEY ix_webhook_callbacks_finished (finished_at)
) ENGINE=InnoDB;

-- +goose Down
DROP TABLE webhook_callbacks;
