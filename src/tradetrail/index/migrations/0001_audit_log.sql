-- 0001: the append-only audit_log, partitioned by month of ts.
--
-- Run by the owner role (tradetrail.index.postgres.migrate). The application role gets INSERT
-- and SELECT on audit_log and EXECUTE on audit_log_partition, nothing else, so rows written are
-- never changed: the grants stop the application and the triggers stop everyone else short of
-- dropping them (which an auditor sees in the DDL history). Retention drops whole monthly
-- partitions (DROP TABLE tradetrail.audit_log_YYYY_MM, as the owner).

CREATE TABLE tradetrail.audit_log (
    origin text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    leaf_hash text COLLATE "C" NOT NULL,
    prev text COLLATE "C" NOT NULL,
    -- The journal's ts as a time (partition key, ordering, since/until). Read back with
    -- to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), which reproduces every
    -- ts the writer makes; ts_raw keeps the original text only when that would not (set at
    -- ingest by comparing), so IndexRow.ts always comes back exactly as recorded.
    ts timestamptz NOT NULL,
    ts_raw text COLLATE "C",
    event_ts text COLLATE "C",
    type text COLLATE "C" NOT NULL,
    category text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    actor text COLLATE "C",
    priority text COLLATE "C",
    correlation_id text COLLATE "C",
    order_id text COLLATE "C",
    client_order_id text COLLATE "C",
    exchange_order_id text COLLATE "C",
    parent_order_id text COLLATE "C",
    signal_id text COLLATE "C",
    strategy text COLLATE "C",
    account text COLLATE "C",
    venue text COLLATE "C",
    symbol text COLLATE "C",
    -- The journal line byte for byte (the evidence: its SHA-256 is the leaf hash); jsonb would
    -- reorder keys and normalise numbers, so the parsed form is kept beside it, not instead.
    record text NOT NULL,
    event jsonb,
    -- The words full-text search sees, already cut and folded like SQLite's unicode61 tokenizer
    -- (lower case, no diacritics, single spaces), so both backends find the same rows.
    words text NOT NULL,
    fts tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, words)) STORED,
    -- (origin, seq) is the key; a unique index on a partitioned table must hold the partition
    -- key, so ts is in it and ingest serialises per origin (advisory lock) and checks seq.
    PRIMARY KEY (origin, seq, ts)
) PARTITION BY RANGE (ts);

CREATE INDEX audit_log_ts ON tradetrail.audit_log (ts, seq);
-- lower(type): a `x.*` prefix is case-insensitive for ASCII, as SQLite's LIKE is; the column's
-- "C" collation lets LIKE 'prefix%' use the index, and serves exact types as well.
CREATE INDEX audit_log_type_ts ON tradetrail.audit_log (lower(type), ts);
CREATE INDEX audit_log_category_ts ON tradetrail.audit_log (category, ts);
CREATE INDEX audit_log_symbol_ts ON tradetrail.audit_log (symbol, ts) WHERE symbol IS NOT NULL;
CREATE INDEX audit_log_account_ts ON tradetrail.audit_log (account, ts) WHERE account IS NOT NULL;
CREATE INDEX audit_log_actor_ts ON tradetrail.audit_log (actor, ts) WHERE actor IS NOT NULL;
CREATE INDEX audit_log_strategy_ts ON tradetrail.audit_log (strategy, ts)
    WHERE strategy IS NOT NULL;
CREATE INDEX audit_log_order_id ON tradetrail.audit_log (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX audit_log_client_order_id ON tradetrail.audit_log (client_order_id)
    WHERE client_order_id IS NOT NULL;
CREATE INDEX audit_log_exchange_order_id ON tradetrail.audit_log (exchange_order_id)
    WHERE exchange_order_id IS NOT NULL;
CREATE INDEX audit_log_parent_order_id ON tradetrail.audit_log (parent_order_id)
    WHERE parent_order_id IS NOT NULL;
CREATE INDEX audit_log_signal_id ON tradetrail.audit_log (signal_id) WHERE signal_id IS NOT NULL;
CREATE INDEX audit_log_correlation_id ON tradetrail.audit_log (correlation_id)
    WHERE correlation_id IS NOT NULL;
-- jsonb_path_ops: containment (@>) only, but a third of the size and cheaper to ingest.
CREATE INDEX audit_log_event ON tradetrail.audit_log USING gin (event jsonb_path_ops);
CREATE INDEX audit_log_fts ON tradetrail.audit_log USING gin (fts);

CREATE FUNCTION tradetrail.audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'rows are evidence; retention drops whole monthly partitions';
END
$$;

-- Statement level: refuses even an UPDATE/DELETE that matches no row, and TRUNCATE. Row level
-- as well: PostgreSQL clones row triggers onto every partition, statement triggers it does not
-- (audit_log_partition adds the statement trigger to each partition it creates).
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON tradetrail.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tradetrail.audit_log_refuse();
CREATE TRIGGER audit_log_append_only_row
    BEFORE UPDATE OR DELETE ON tradetrail.audit_log
    FOR EACH ROW EXECUTE FUNCTION tradetrail.audit_log_refuse();

-- The month's partition, created on first use. SECURITY DEFINER because only the table's
-- owner may add partitions and the application role must not own anything.
CREATE FUNCTION tradetrail.audit_log_partition(month date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'audit_log_' || to_char(first, 'YYYY_MM');
BEGIN
    IF to_regclass('tradetrail.' || name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(1953654114, 1);  -- serialise creators ('tt' partitions)
    -- A query, not to_regclass: the catalog cache would not yet show a partition another
    -- session committed while this one waited for the lock; a fresh snapshot does.
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'tradetrail' AND c.relname = name) THEN
        RETURN name;
    END IF;
    EXECUTE format(
        'CREATE TABLE tradetrail.%I PARTITION OF tradetrail.audit_log FOR VALUES FROM (%L) TO (%L)',
        name, first::timestamp AT TIME ZONE 'UTC',
        (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format(
        'CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE '
        'ON tradetrail.%I FOR EACH STATEMENT EXECUTE FUNCTION tradetrail.audit_log_refuse()',
        name);
    RETURN name;
END
$$;
REVOKE ALL ON FUNCTION tradetrail.audit_log_partition(date) FROM PUBLIC;
