CREATE TABLE IF NOT EXISTS alerts
(
    id            String   COMMENT 'Deterministic alert id: hash of the dedup key and the incident start',
    dedup_key     String   COMMENT 'Stable key per (profile, entity): one open incident per key',
    timestamp     DateTime('UTC') COMMENT 'When the alert was raised (end of the window that crossed the threshold), UTC',
    tenant        String   COMMENT 'Owning tenant',
    profile       String   COMMENT 'Detection profile, e.g. brute_force',
    entity        String   COMMENT 'Entity alerted on, e.g. a source IP',
    severity      String   COMMENT 'info, low, medium, high or critical',
    status        String   COMMENT 'firing or resolved',
    summary       String   COMMENT 'One-line human summary',
    observed      Float64  COMMENT 'Feature value that crossed the threshold',
    expected      Float64  COMMENT 'Baseline expectation',
    anomaly_score Float64  COMMENT 'Anomaly score in [0,1]',
    payload       String   COMMENT 'The whole alert as published (JSON, schemas/alerts)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (tenant, timestamp, id);

