CREATE TABLE IF NOT EXISTS scores
(
    id            String   COMMENT 'Deterministic score id: hash of tenant, profile, entity and window start',
    window_start  DateTime('UTC') COMMENT 'Start of the scored window, UTC',
    window_end    DateTime('UTC') COMMENT 'End of the scored window (exclusive), UTC',
    tenant        String   COMMENT 'Owning tenant',
    profile       String   COMMENT 'Detection profile that scored, e.g. brute_force',
    entity        String   COMMENT 'Entity the baseline belongs to, e.g. a source IP',
    entity_field  String   COMMENT 'Envelope field(s) the entity is keyed by, e.g. source.ip',
    feature       String   COMMENT 'Feature scored, e.g. failed_logins',
    observed      Float64  COMMENT 'Feature value in the window',
    expected      Float64  COMMENT 'Baseline expectation for the window',
    spread        Float64  COMMENT 'Baseline spread (standard deviation) for the window',
    samples       UInt64   COMMENT 'Windows the baseline has learned from',
    method        String   COMMENT 'Scoring method, e.g. poisson_ewma or poisson_population',
    anomaly_score Float64  COMMENT 'Calibrated anomaly score in [0,1]: 1 minus the tail probability of observed under the baseline'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, profile, entity, window_start, id);

