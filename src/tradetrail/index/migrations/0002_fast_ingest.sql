-- 0002: faster ingest (issue 16). Nothing an index answer or check needs is removed.
--
-- The parsed `event` jsonb and its GIN index cost more than half of each row's ingest time
-- (parsing every line, then one GIN entry per key path), and no tradetrail query reads them.
-- The record text stays (the evidence, unchanged); ad-hoc SQL gets the parsed form from the
-- view audit_log_json, parsed when read. Rows stay append-only: dropping a column is DDL by
-- the owner, and the triggers still refuse UPDATE, DELETE and TRUNCATE.

DROP INDEX tradetrail.audit_log_event;
ALTER TABLE tradetrail.audit_log DROP COLUMN event;

CREATE VIEW tradetrail.audit_log_json AS
SELECT origin, seq, leaf_hash, ts, type, record,
    -- jsonb cannot hold U+0000: such a record (rare, and stored exactly in `record`) has none
    CASE WHEN strpos(record, E'\\u0000') > 0 THEN NULL ELSE record::jsonb END AS event
FROM tradetrail.audit_log;


