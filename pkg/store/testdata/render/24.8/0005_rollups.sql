CREATE TABLE IF NOT EXISTS events_per_minute
(
    minute      DateTime('UTC') CODEC(DoubleDelta, LZ4) COMMENT 'Start of the minute of event time (events.timestamp), UTC',
    tenant      LowCardinality(String) COMMENT 'Owning tenant (events.tenant)',
    source      LowCardinality(String) COMMENT 'Log source and format, e.g. sshd (events.source, event.dataset)',
    category    LowCardinality(String) COMMENT 'ECS event.category, e.g. authentication (events.category)',
    outcome     LowCardinality(String) COMMENT 'success, failure or unknown (events.outcome)',
    event_count UInt64 CODEC(T64, LZ4) COMMENT 'Events inserted for this minute and key; a redelivered copy counts again'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (tenant, minute, source, category, outcome);

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

CREATE TABLE IF NOT EXISTS failed_auth_per_minute
(
    minute   DateTime('UTC') CODEC(DoubleDelta, LZ4) COMMENT 'Start of the minute of event time (events.timestamp), UTC',
    tenant   LowCardinality(String) COMMENT 'Owning tenant (events.tenant)',
    src_ip   String   COMMENT 'Address the attempts came from (events.src_ip); empty when the line named none',
    failures UInt64 CODEC(T64, LZ4) COMMENT 'Failed authentications inserted for this minute and address; a redelivered copy counts again'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (tenant, minute, src_ip);

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

