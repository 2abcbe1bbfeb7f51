package forensics

// Every query reads events with FINAL, so it sees one copy of each event
// however many times the archiver inserted it; a selective filter on a
// column outside the sorting key goes in PREWHERE, which runs before FINAL
// merges the copies and is exact here because every copy of an event is
// the same row. Measured on 18.16 (BenchmarkOneCopy, README.md), FINAL is
// about as fast as GROUP BY id for a lookup and several times faster for
// an aggregation over a range.

// DefaultTenant as a Param's Default stands for the configured tenant.
const DefaultTenant = "(configured tenant)"

func tenantParam() Param {
	return Param{Name: "tenant", Type: String, Default: DefaultTenant, Doc: "Tenant whose events to search"}
}

func fromParam(def string) Param {
	return Param{Name: "from", Type: Time, Default: def, Doc: "Start of the range (inclusive), event time"}
}

func toParam() Param {
	return Param{Name: "to", Type: Time, Default: "now", Doc: "End of the range (exclusive), event time"}
}

func limitParam(def string) Param {
	return Param{Name: "limit", Type: Int, Default: def, Min: 1, Max: 100_000, Doc: "Most rows returned"}
}

var ipActivity = Query{
	Name:    "ip-activity",
	Summary: "Everything one source IP did in a time range, oldest first.",
	Params: []Param{
		{Name: "ip", Type: IP, Required: true, Doc: "Source address (source.ip)"},
		fromParam("-24h"), toParam(), tenantParam(), limitParam("1000"),
	},
	SQL: `SELECT timestamp, host, user, source, category, action, outcome, dst_ip, dst_port, message
FROM events FINAL
WHERE tenant = @tenant AND src_ip = @ip
  AND timestamp >= @from AND timestamp < @to
ORDER BY timestamp, timestamp_ns, id
LIMIT @limit`,
}

var userLogins = Query{
	Name: "user-logins",
	Summary: "Every login attempt of one user (category authentication, any outcome) and where it came from, " +
		"oldest first.",
	Params: []Param{
		{Name: "user", Type: String, Required: true, Doc: "Account name (user.name)"},
		fromParam("-7d"), toParam(), tenantParam(), limitParam("1000"),
	},
	SQL: `SELECT timestamp, outcome, src_ip, src_port, host, action, message
FROM events FINAL
PREWHERE user = @user
WHERE tenant = @tenant AND category = 'authentication'
  AND timestamp >= @from AND timestamp < @to
ORDER BY timestamp, timestamp_ns, id
LIMIT @limit`,
}

var firstSeen = Query{
	Name: "first-seen",
	Summary: "User and source IP pairs with a successful login in the range and none in the lookback before it: " +
		"new places people log in from.",
	Params: []Param{
		fromParam("-24h"), toParam(),
		{Name: "lookback", Type: Duration, Default: "90d", Doc: "How far before from a pair counts as already seen"},
		tenantParam(), limitParam("1000"),
	},
	SQL: `SELECT user, src_ip, min(timestamp) AS first_seen,
    countIf(timestamp >= @from) AS logins,
    arrayStringConcat(arraySort(groupUniqArrayIf(host, timestamp >= @from)), ',') AS hosts
FROM events FINAL
WHERE tenant = @tenant AND category = 'authentication' AND outcome = 'success'
  AND user != '' AND src_ip != ''
  AND timestamp >= @from - @lookback AND timestamp < @to
GROUP BY user, src_ip
HAVING first_seen >= @from
ORDER BY first_seen, user, src_ip
LIMIT @limit`,
}

var topTalkers = Query{
	Name: "top-talkers",
	Summary: "The source IPs with the most events, or the most bytes (sent plus received), in a time range, " +
		"with how many users and hosts each touched.",
	Params: []Param{
		fromParam("-24h"), toParam(),
		{Name: "by", Type: Choice, Default: "events", Choices: []string{"events", "bytes"}, Doc: "Rank by events or by bytes"},
		tenantParam(), limitParam("10"),
	},
	SQL: `SELECT src_ip, count() AS event_count, sum(bytes_out) AS bytes_sent, sum(bytes_in) AS bytes_received,
    uniqExactIf(user, user != '') AS users, uniqExactIf(host, host != '') AS hosts
FROM events FINAL
WHERE tenant = @tenant AND src_ip != ''
  AND timestamp >= @from AND timestamp < @to
GROUP BY src_ip
ORDER BY if(@by = 'bytes', bytes_sent + bytes_received, event_count) DESC, src_ip
LIMIT @limit`,
}

var failedThenSuccess = Query{
	Name: "failed-then-success",
	Summary: "Successful logins preceded, from the same source IP, by at least `failures` failed ones within " +
		"`window`: a guessed password. One row per such success in the range.",
	Params: []Param{
		fromParam("-24h"), toParam(),
		{Name: "failures", Type: Int, Default: "5", Min: 1, Max: 1_000_000, Doc: "Fewest failures before the success"},
		{Name: "window", Type: Duration, Default: "10m", Doc: "How long before the success the failures count"},
		{Name: "ip", Type: IP, Doc: "Only this source address; empty for every source"},
		tenantParam(), limitParam("1000"),
	},
	// Event times in nanoseconds order a failure and a success in the
	// same second. 18.16 has no window functions: each source's failures
	// and successes are gathered in arrays, and each success counts the
	// failures in the window before it.
	SQL: `SELECT src_ip, success.3 AS user, success.4 AS host, success.2 AS success_at,
    arrayCount(f -> f < success.1 AND f >= success.1 - @window * 1000000000, failed) AS failures,
    toDateTime(intDiv(arrayReduce('min', arrayFilter(f -> f < success.1 AND f >= success.1 - @window * 1000000000, failed)), 1000000000), 'UTC') AS first_failure
FROM
(
    SELECT src_ip,
        groupArrayIf(toUInt64(timestamp) * 1000000000 + timestamp_ns, outcome = 'failure') AS failed,
        groupArrayIf(tuple(toUInt64(timestamp) * 1000000000 + timestamp_ns, timestamp, user, host), outcome = 'success') AS succeeded
    FROM events FINAL
    WHERE tenant = @tenant AND category = 'authentication' AND src_ip != '' AND (@ip = '' OR src_ip = @ip)
      AND timestamp >= @from - @window AND timestamp < @to
    GROUP BY src_ip
)
ARRAY JOIN succeeded AS success
WHERE failures >= @failures AND success_at >= @from
ORDER BY success_at, src_ip
LIMIT @limit`,
}

var alertEvents = Query{
	Name: "alert-events",
	Summary: "The events behind an alert: every event of the alerted entity (its source IP, user or host, " +
		"as the alert's entity_field says) from the incident's first_seen to the alert's last_seen. " +
		"A dedup key covers every alert raised under it.",
	Params: []Param{
		{Name: "alert", Type: String, Required: true, Doc: "Alert id, or dedup key (vigil/TENANT/PROFILE/ENTITY)"},
		{Name: "tenant", Type: String, Default: DefaultTenant, Doc: "Tenant whose alerts and events to search"},
		limitParam("10000"),
	},
	// alert is (tenant, entity, entity_field, [first_seen], [last_seen])
	// of the tenant's alerts with that id or dedup key; alerts.timestamp is the
	// alert's last_seen, and an alert without first_seen (none Vigil
	// raises) reaches back to the oldest event. On 18.16 a column a lambda uses must also appear
	// outside one, which the bounds on timestamp do.
	SQL: `WITH
    (SELECT tuple(any(tenant), any(entity), any(visitParamExtractString(payload, 'entity_field')),
        groupArray(parseDateTimeBestEffortOrZero(visitParamExtractString(payload, 'first_seen'))), groupArray(timestamp))
     FROM alerts FINAL
     WHERE tenant = @tenant AND (id = @alert OR dedup_key = @alert)) AS alert
SELECT timestamp, src_ip, user, host, action, outcome, message
FROM events FINAL
PREWHERE multiIf(alert.3 = 'user.name', user, alert.3 = 'host.name', host, src_ip) = alert.2
WHERE tenant = alert.1
  AND timestamp >= arrayReduce('min', alert.4) AND timestamp < arrayReduce('max', alert.5)
  AND arrayExists((lo, hi) -> timestamp >= lo AND timestamp < hi, alert.4, alert.5)
ORDER BY timestamp, timestamp_ns, id
LIMIT @limit`,
}

// library lists the queries in the order `vigil query --list` shows them.
var library = []Query{ipActivity, userLogins, firstSeen, topTalkers, failedThenSuccess, alertEvents}
