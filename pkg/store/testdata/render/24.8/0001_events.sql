CREATE TABLE IF NOT EXISTS events
(
    id           String   COMMENT 'Deterministic event id (event.id): 128-bit hex, same line from the same place gives the same id',
    timestamp    DateTime('UTC') COMMENT 'When the event happened, UTC seconds (@timestamp)',
    timestamp_ns UInt32   COMMENT 'Nanoseconds within the second of timestamp',
    ingested     DateTime('UTC') COMMENT 'When Vigil read the event, UTC (event.ingested)',
    tenant       String   COMMENT 'Owning tenant (organization.id)',
    source       String   COMMENT 'Log source and format, e.g. sshd, json, raw (event.dataset)',
    host         String   COMMENT 'Host the event is about or came from (host.name)',
    category     String   COMMENT 'ECS event.category, e.g. authentication, network',
    action       String   COMMENT 'What happened, e.g. ssh_login (event.action)',
    outcome      String   COMMENT 'success, failure or unknown (event.outcome)',
    src_ip       String   COMMENT 'Address the activity came from (source.ip); empty when none',
    src_port     UInt16   COMMENT 'Port the activity came from (source.port); 0 when none',
    dst_ip       String   COMMENT 'Address the activity went to (destination.ip); empty when none',
    dst_port     UInt16   COMMENT 'Port the activity went to (destination.port); 0 when none',
    user         String   COMMENT 'Account acted as or on (user.name)',
    protocol     String   COMMENT 'Application protocol, e.g. ssh (network.protocol)',
    bytes_out    UInt64   COMMENT 'Bytes sent by the source (source.bytes)',
    bytes_in     UInt64   COMMENT 'Bytes sent by the destination (destination.bytes)',
    value        Float64  COMMENT 'Numeric measurement the source carries (vigil.value)',
    message      String   COMMENT 'The raw line as read (event.original)',
    parse_error  String   COMMENT 'Why no parser understood the line; empty when one did (vigil.parse_error)',
    attr_keys    Array(String) COMMENT 'Names of further string attributes (labels), parallel to attr_values',
    attr_values  Array(String) COMMENT 'Values of further string attributes (labels), parallel to attr_keys'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (tenant, src_ip, timestamp, id);

