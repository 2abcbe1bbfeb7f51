package config

import "time"

// BuiltinProfiles returns the profiles Vigil ships, each with the attack it
// catches (see services/processor/README.md). processor.disabled turns one
// off; a profile of the same name in processor.profiles replaces it.
func BuiltinProfiles() []ProfileConfig {
	authFailures := MatchConfig{Category: []string{"authentication"}, Outcome: []string{"failure"}}
	logins := MatchConfig{Category: []string{"authentication"}, Outcome: []string{"success"}}
	flows := MatchConfig{Category: []string{"network"}}
	ps := []ProfileConfig{
		{
			Name:        "brute_force",
			Description: "Password guessing, fast or low-and-slow: failed logins per source IP far above its own (or the population's) failures per five minutes.",
			Match:       authFailures,
			Key:         []string{"source.ip"},
			Window:      5 * time.Minute,
			Features:    []FeatureConfig{{Name: "failed_logins", Kind: "count"}},
			Threshold:   0.99999,
			MinValue:    25,
			Severity:    "high",
		},
		{
			Name:        "password_spraying",
			Description: "Password spraying: one source IP failing to log in as many distinct users (few tries each, so per-user lockouts never trip).",
			Match:       authFailures,
			Key:         []string{"source.ip"},
			Window:      10 * time.Minute,
			Features:    []FeatureConfig{{Name: "distinct_users_failed", Kind: "distinct", Field: "user.name"}},
			Threshold:   0.99999,
			MinValue:    10,
			Severity:    "high",
		},
		{
			Name:        "port_scan",
			Description: "Port scanning: one source IP reaching many distinct destination ports.",
			Match:       flows,
			Key:         []string{"source.ip"},
			Window:      5 * time.Minute,
			Features:    []FeatureConfig{{Name: "distinct_ports", Kind: "distinct", Field: "destination.port", Baseline: "seasonal"}},
			Threshold:   0.99999,
			MinValue:    20,
			Severity:    "medium",
		},
		{
			Name:        "host_scan",
			Description: "Host scanning (sweeps): one source IP reaching many distinct destination hosts.",
			Match:       flows,
			Key:         []string{"source.ip"},
			Window:      5 * time.Minute,
			Features:    []FeatureConfig{{Name: "distinct_hosts", Kind: "distinct", Field: "destination.ip", Baseline: "seasonal"}},
			Threshold:   0.99999,
			MinValue:    10,
			Severity:    "medium",
		},
		{
			Name:        "exfiltration_host",
			Description: "Exfiltration: bytes sent out by a host far above its own volume for the time of week.",
			Match:       flows,
			Key:         []string{"host.name"},
			Window:      10 * time.Minute,
			Features:    []FeatureConfig{{Name: "bytes_out", Kind: "sum", Field: "source.bytes", Baseline: "seasonal"}},
			Threshold:   0.9999999,
			MinValue:    4 << 20,
			Severity:    "high",
		},
		{
			Name:        "exfiltration_user",
			Description: "Exfiltration: bytes sent out by a user far above their own volume.",
			Match:       flows,
			Key:         []string{"user.name"},
			Window:      10 * time.Minute,
			Features:    []FeatureConfig{{Name: "bytes_out", Kind: "sum", Field: "source.bytes", Baseline: "seasonal"}},
			Threshold:   0.9999999,
			MinValue:    4 << 20,
			Severity:    "high",
		},
		{
			Name:        "unusual_hour_login",
			Description: "A stolen account used off-hours: a successful login at an hour of the week the user is rarely active.",
			Match:       logins,
			Key:         []string{"user.name"},
			Window:      time.Hour,
			Features:    []FeatureConfig{{Name: "login_hour", Kind: "hour_of_week"}},
			Warmup:      20,
			Threshold:   0.98,
			Severity:    "medium",
		},
		{
			Name:        "new_user_source",
			Description: "A stolen account used from elsewhere: a successful login of a user from a source IP the user never used before.",
			Match:       logins,
			Key:         []string{"user.name"},
			Window:      time.Hour,
			Features:    []FeatureConfig{{Name: "new_source", Kind: "first_seen", Field: "source.ip"}},
			Warmup:      10,
			Threshold:   0.95,
			Severity:    "low",
		},
		{
			Name:        "new_user_subnet",
			Description: "A stolen account used from another network: a successful login of a user from a /24 (IPv4) the user never used before.",
			Match:       logins,
			Key:         []string{"user.name"},
			Window:      time.Hour,
			Features:    []FeatureConfig{{Name: "new_subnet", Kind: "first_seen", Field: "source.ip/24"}},
			Warmup:      10,
			Threshold:   0.95,
			Severity:    "medium",
		},
		{
			Name:        "db_query_volume",
			Description: "Bulk data theft through a database account: queries per user far above their own rate.",
			Match:       MatchConfig{Category: []string{"database"}, Action: []string{"db_query"}},
			Key:         []string{"user.name"},
			Window:      10 * time.Minute,
			Features:    []FeatureConfig{{Name: "queries", Kind: "count"}},
			Threshold:   0.99999,
			MinValue:    30,
			Severity:    "medium",
		},
		{
			Name:        "http_auth_failures",
			Description: "Credential stuffing and forced browsing against web applications: 401/403 answers per source IP.",
			Match: MatchConfig{Category: []string{"web"},
				Fields: map[string][]string{"labels.http.response.status_code": {"401", "403"}}},
			Key:       []string{"source.ip"},
			Window:    time.Minute,
			Features:  []FeatureConfig{{Name: "auth_failures", Kind: "count"}},
			Threshold: 0.99999,
			MinValue:  20,
			Severity:  "medium",
		},
		{
			Name:        "silent_source",
			Description: "A host or log source gone quiet (agent stopped, logs wiped, host down): its events per window far below its own level for the time of week.",
			Key:         []string{"host.name"},
			Window:      2 * time.Hour,
			Features:    []FeatureConfig{{Name: "events", Kind: "count", Baseline: "seasonal", Direction: "low"}},
			Warmup:      12,
			MinValue:    2,
			Threshold:   0.9999,
			Severity:    "high",
		},
	}
	for i := range ps {
		fillProfileDefaults(&ps[i])
	}
	return ps
}
