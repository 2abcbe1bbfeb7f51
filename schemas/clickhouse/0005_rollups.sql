-- Rollups: per-minute counts kept by materialized views, for dashboards
-- over long ranges without reading events.
--
-- A materialized view runs its SELECT on every block inserted into events
-- and inserts the result into its target table; SummingMergeTree adds up
-- rows with the same sorting key when it merges. Read them with sum() and
-- GROUP BY, as rows of one key may not be merged yet.
--
-- Approximate under redelivery: the views count every inserted copy. When
-- the archiver inserts a batch again (a crash or a failed commit after the
-- insert, at most one batch of archiver.batch_rows rows per such event), the
-- events table keeps one copy of each event but the rollups count it twice.
-- Rollups may over-count, never under-count; exact counts come from events
-- with FINAL (schemas/clickhouse/README.md).
--
-- The views see inserts made after they exist; each rollup is filled from
-- the events already stored when it is still empty, so an installation
-- that had events before this migration gets its history counted (one pass
-- over events). Times are bucketed portably:
-- toDateTime(intDiv(toUInt32(timestamp), 60) * 60, 'UTC').

-- events_per_minute: events per minute of event time, tenant, source,
-- category and outcome.
CREATE TABLE IF NOT EXISTS events_per_minute
(
    minute      DateTime('UTC') /*+codec DoubleDelta, LZ4*/ COMMENT 'Start of the minute of event time (events.timestamp), UTC',
    tenant      String /*+low_cardinality*/ COMMENT 'Owning tenant (events.tenant)',
    source      String /*+low_cardinality*/ COMMENT 'Log source and format, e.g. sshd (events.source, event.dataset)',
    category    String /*+low_cardinality*/ COMMENT 'ECS event.category, e.g. authentication (events.category)',
    outcome     String /*+low_cardinality*/ COMMENT 'success, failure or unknown (events.outcome)',
    event_count UInt64 /*+codec T64, LZ4*/ COMMENT 'Events inserted for this minute and key; a redelivered copy counts again'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (tenant, minute, source, category, outcome);

-- events_per_minute_mv: feeds events_per_minute from every insert into
-- events. Its columns are those of events_per_minute.
CREATE MATERIALIZED VIEW IF NOT EXISTS events_per_minute_mv TO events_per_minute
AS SELECT
    toDateTime(intDiv(toUInt32(timestamp), 60) * 60, 'UTC') AS minute,
    tenant, source, category, outcome,
    count() AS event_count
FROM events
GROUP BY minute, tenant, source, category, outcome;

INSERT INTO events_per_minute (minute, tenant, source, category, outcome, event_count)
SELECT
    toDateTime(intDiv(toUInt32(timestamp), 60) * 60, 'UTC') AS minute,
    tenant, source, category, outcome,
    count() AS event_count
FROM events FINAL
WHERE (SELECT count() FROM events_per_minute) = 0
GROUP BY minute, tenant, source, category, outcome;

-- failed_auth_per_minute: failed authentications (category authentication,
-- outcome failure: what the processor's brute-force profile counts) per
-- minute of event time, tenant and source IP.
CREATE TABLE IF NOT EXISTS failed_auth_per_minute
(
    minute   DateTime('UTC') /*+codec DoubleDelta, LZ4*/ COMMENT 'Start of the minute of event time (events.timestamp), UTC',
    tenant   String /*+low_cardinality*/ COMMENT 'Owning tenant (events.tenant)',
    src_ip   String   COMMENT 'Address the attempts came from (events.src_ip); empty when the line named none',
    failures UInt64 /*+codec T64, LZ4*/ COMMENT 'Failed authentications inserted for this minute and address; a redelivered copy counts again'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (tenant, minute, src_ip);

-- failed_auth_per_minute_mv: feeds failed_auth_per_minute from every insert
-- into events. Its columns are those of failed_auth_per_minute.
CREATE MATERIALIZED VIEW IF NOT EXISTS failed_auth_per_minute_mv TO failed_auth_per_minute
AS SELECT
    toDateTime(intDiv(toUInt32(timestamp), 60) * 60, 'UTC') AS minute,
    tenant, src_ip,
    count() AS failures
FROM events
WHERE category = 'authentication' AND outcome = 'failure'
GROUP BY minute, tenant, src_ip;

INSERT INTO failed_auth_per_minute (minute, tenant, src_ip, failures)
SELECT
    toDateTime(intDiv(toUInt32(timestamp), 60) * 60, 'UTC') AS minute,
    tenant, src_ip,
    count() AS failures
FROM events FINAL
WHERE category = 'authentication' AND outcome = 'failure'
    AND (SELECT count() FROM failed_auth_per_minute) = 0
GROUP BY minute, tenant, src_ip;
