-- Keys compare byte for byte. utf8mb4_bin is a PAD SPACE collation: 'acme'
-- and 'acme ' are equal to it (one row in a unique key) and two strings to
-- Go, so the fence check and the dedupe lookup disagreed and a batch looped.
-- VARBINARY compares bytes on MySQL and MariaDB alike (their NO PAD
-- collations differ). The converted values keep their bytes (the
-- processor already bounds every key to 255 bytes, not characters), and a
-- stricter comparison cannot create a duplicate, so this runs on a populated
-- database. It rebuilds both tables (writes wait meanwhile).

-- +goose Up
ALTER TABLE webhook_events
    MODIFY source     VARBINARY(63)  NOT NULL,
    MODIFY event_id   VARBINARY(255) NOT NULL,
    MODIFY entity_key VARBINARY(255) NOT NULL DEFAULT '' COMMENT 'value at the source entity_key; empty when the body has none';

ALTER TABLE webhook_entities
    MODIFY source        VARBINARY(63)  NOT NULL,
    MODIFY entity_key    VARBINARY(255) NOT NULL,
    MODIFY last_event_id VARBINARY(255) NOT NULL;

-- +goose Down
-- Fails with a duplicate key if keys now differ only by trailing spaces.
ALTER TABLE webhook_entities
    MODIFY source        VARCHAR(63)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY entity_key    VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY last_event_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE webhook_events
    MODIFY source     VARCHAR(63)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY event_id   VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY entity_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'value at the source entity_key; empty when the body has none';
