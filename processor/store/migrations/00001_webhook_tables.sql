-- +goose Up
CREATE TABLE webhook_events (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    source       VARCHAR(63)     NOT NULL,
    event_id     VARCHAR(255)    NOT NULL,
    event_type   VARCHAR(128)    NOT NULL,
    entity_key   VARCHAR(255)    NOT NULL DEFAULT '' COMMENT 'value at the source entity_key; empty when the body has none',
    request_id   VARCHAR(255)    NOT NULL DEFAULT '',
    content_type VARCHAR(255)    NOT NULL DEFAULT '',
    payload      MEDIUMBLOB      NOT NULL COMMENT 'raw request body, byte for byte',
    received_at  DATETIME(6)     NOT NULL,
    processed_at DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_webhook_events_source_event (source, event_id),
    KEY ix_webhook_events_entity (source, entity_key, received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE webhook_entities (
    source           VARCHAR(63)     NOT NULL,
    entity_key       VARCHAR(255)    NOT NULL,
    version          BIGINT UNSIGNED NOT NULL COMMENT 'incremented on every applied write',
    last_event_id    VARCHAR(255)    NOT NULL,
    last_event_type  VARCHAR(128)    NOT NULL,
    last_received_at DATETIME(6)     NOT NULL COMMENT 'fence: a write applies only for a newer (received_at, event_id)',
    state            MEDIUMBLOB      NOT NULL,
    updated_at       DATETIME(6)     NOT NULL,
    PRIMARY KEY (source, entity_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE webhook_entities;
DROP TABLE webhook_events;
