package evalset

import (
	"errors"
	"fmt"
	"time"
)

// Config says what to generate. Default is the benchmark; Small is for unit
// tests. The same Config always generates the same events, byte for byte.
type Config struct {
	// Seed of every random draw.
	Seed uint64 `json:"seed"`
	// Tenant written into every event (organization.id).
	Tenant string `json:"tenant"`
	// Start is the first instant generated (UTC); Default starts on a Monday.
	Start time.Time `json:"start"`
	// Duration of the generated period: 14 days by default.
	Duration time.Duration `json:"duration"`
	// WarmUp is the attack-free start of the period the engine learns from:
	// 7 days by default. Attacks and labels lie after it.
	WarmUp time.Duration `json:"warm_up"`
	// Users is the number of user accounts (each with its own working hours,
	// rates and sources).
	Users int `json:"users"`
	// Hosts is the number of servers (bastions, web, database, proxies,
	// monitoring, backup and application servers).
	Hosts int `json:"hosts"`
	// ExternalIPs is the number of ordinary internet addresses: a third are
	// remote users' home addresses, the rest internet background (bots
	// trying a few passwords, probing a few ports). Attackers use other,
	// never-seen addresses.
	ExternalIPs int `json:"external_ips"`
	// InternalClients is the number of internal client addresses: a tenth
	// are NAT and VPN gateways shared by many users, the rest workstations
	// and jump boxes shared by a few.
	InternalClients int `json:"internal_clients"`
	// Attacks is how many of each attack to inject.
	Attacks Attacks `json:"attacks"`
}

// Attacks counts the attacks of each kind injected after the warm-up.
// README.md gives each one's intensity range.
type Attacks struct {
	// BruteForce: 30–600 failed logins a minute for 5–60 minutes from a new
	// external address.
	BruteForce int `json:"brute_force"`
	// LowAndSlow: 5–10 failed logins a minute for 30–120 minutes.
	LowAndSlow int `json:"low_and_slow"`
	// Spraying: one new address trying 20–200 users, 1–3 times each.
	Spraying int `json:"spraying"`
	// PortScan: 100–2,000 distinct ports on one host.
	PortScan int `json:"port_scan"`
	// HostScan: 50–500 distinct internal addresses.
	HostScan int `json:"host_scan"`
	// ExfilHost: a host sending 10–100× the bytes of its usual busy hour out
	// within 10–60 minutes.
	ExfilHost int `json:"exfil_host"`
	// ExfilUser: a user sending 10–100× the bytes of their usual working
	// hour out through the proxy within 10–60 minutes.
	ExfilUser int `json:"exfil_user"`
	// OffHoursLogin: a day worker logging in between 00:00 and 05:00.
	OffHoursLogin int `json:"off_hours_login"`
	// NewSource: a user logging in from a never-seen external address in a
	// never-seen /24; each makes a new_user_source and a new_user_subnet
	// label.
	NewSource int `json:"new_source"`
	// DBQueryVolume: a user running 20–100× their usual queries for 10–60
	// minutes.
	DBQueryVolume int `json:"db_query_volume"`
	// HTTPAuthFlood: 20–300 requests a minute, nine in ten answered 401 or
	// 403, for 5–30 minutes.
	HTTPAuthFlood int `json:"http_auth_flood"`
	// SilentSource: a busy host whose events stop for 2–6 hours during its
	// busy hours.
	SilentSource int `json:"silent_source"`
}

// total is the number of attacks (NewSource counts once).
func (a Attacks) total() int {
	return a.BruteForce + a.LowAndSlow + a.Spraying + a.PortScan + a.HostScan + a.ExfilHost +
		a.ExfilUser + a.OffHoursLogin + a.NewSource + a.DBQueryVolume + a.HTTPAuthFlood + a.SilentSource
}

// Default is the benchmark: 14 days (7 of warm-up) of 2,000 users, 500
// hosts, 3,000 external and 200 internal client addresses, with 300 attacks.
func Default() Config {
	return Config{
		Seed:            1,
		Tenant:          "default",
		Start:           time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), // a Monday
		Duration:        14 * 24 * time.Hour,
		WarmUp:          7 * 24 * time.Hour,
		Users:           2000,
		Hosts:           500,
		ExternalIPs:     3000,
		InternalClients: 200,
		Attacks: Attacks{
			BruteForce: 30, LowAndSlow: 10, Spraying: 30, PortScan: 30, HostScan: 30,
			ExfilHost: 20, ExfilUser: 20, OffHoursLogin: 30, NewSource: 30,
			DBQueryVolume: 20, HTTPAuthFlood: 20, SilentSource: 15,
		},
	}
}

// Small is a two-day set (one day of warm-up) for unit tests, with two
// attacks of each kind.
func Small() Config {
	c := Default()
	c.Duration = 2 * 24 * time.Hour
	c.WarmUp = 24 * time.Hour
	c.Users = 150
	c.Hosts = 60
	c.ExternalIPs = 300
	c.InternalClients = 30
	c.Attacks = Attacks{
		BruteForce: 2, LowAndSlow: 2, Spraying: 2, PortScan: 2, HostScan: 2,
		ExfilHost: 2, ExfilUser: 2, OffHoursLogin: 2, NewSource: 2,
		DBQueryVolume: 2, HTTPAuthFlood: 2, SilentSource: 2,
	}
	return c
}

// Minimum sizes: below them the roles (bastions, databases, proxies, NAT
// gateways) and the attacks' distinct targets do not fit.
const (
	minUsers           = 50
	minHosts           = 20
	minExternalIPs     = 30
	minInternalClients = 10
	minEval            = 12 * time.Hour
)

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("evalset: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Tenant == "" {
		bad("tenant", "must not be empty")
	}
	if c.Start.IsZero() {
		bad("start", "must be set")
	}
	if c.WarmUp < 0 {
		bad("warm_up", "must not be negative, got %s", c.WarmUp)
	}
	if c.Duration-c.WarmUp < minEval {
		bad("duration", "must exceed warm_up (%s) by at least %s, got %s", c.WarmUp, minEval, c.Duration)
	}
	for _, f := range []struct {
		key      string
		got, min int
	}{
		{"users", c.Users, minUsers},
		{"hosts", c.Hosts, minHosts},
		{"external_ips", c.ExternalIPs, minExternalIPs},
		{"internal_clients", c.InternalClients, minInternalClients},
	} {
		if f.got < f.min {
			bad(f.key, "must be at least %d, got %d", f.min, f.got)
		}
	}
	a := c.Attacks
	for _, f := range []struct {
		key string
		n   int
	}{
		{"brute_force", a.BruteForce}, {"low_and_slow", a.LowAndSlow}, {"spraying", a.Spraying},
		{"port_scan", a.PortScan}, {"host_scan", a.HostScan}, {"exfil_host", a.ExfilHost},
		{"exfil_user", a.ExfilUser}, {"off_hours_login", a.OffHoursLogin}, {"new_source", a.NewSource},
		{"db_query_volume", a.DBQueryVolume}, {"http_auth_flood", a.HTTPAuthFlood}, {"silent_source", a.SilentSource},
	} {
		if f.n < 0 {
			bad("attacks."+f.key, "must not be negative, got %d", f.n)
		}
	}
	// Every attack on a user or a host takes one of its own, chosen among
	// the busier half; keep them a minority.
	if n := a.ExfilUser + a.OffHoursLogin + a.NewSource + a.DBQueryVolume; n > c.Users/8 {
		bad("attacks", "%d attacks on users need at least %d users, got %d", n, 8*n, c.Users)
	}
	if n := a.ExfilHost + a.SilentSource; n > c.Hosts/8 {
		bad("attacks", "%d attacks on hosts need at least %d hosts, got %d", n, 8*n, c.Hosts)
	}
	return errors.Join(errs...)
}
