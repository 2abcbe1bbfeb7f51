package forensics

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Type is the type of a query parameter: how its text is validated and
// what it binds as.
type Type int

// Parameter types.
const (
	// String binds as a string.
	String Type = iota
	// IP is an IPv4 or IPv6 address; it binds as its canonical text, the
	// form events store.
	IP
	// Time is a UTC instant: now, a duration before now (-24h, -7d), a
	// date (2006-01-02), a date and time (2006-01-02 15:04:05, UTC), or
	// RFC 3339. It binds as a DateTime.
	Time
	// Duration is a positive Go duration (90s, 10m, 2h) or a number of
	// days (7d); it binds as whole seconds.
	Duration
	// Int is a whole number from Min to Max; it binds as an integer.
	Int
	// Choice is one of Choices; it binds as a string.
	Choice
)

func (t Type) String() string {
	return [...]string{"string", "ip", "time", "duration", "int", "choice"}[t]
}

// Param is one parameter of a query, bound in its SQL as @Name.
type Param struct {
	Name string
	Type Type
	// Doc says what it means.
	Doc string
	// Default is used when the parameter is not given; empty with
	// Required false means the empty value (for IP and String: no filter,
	// where the query says so).
	Default string
	// Required parameters have no default.
	Required bool
	// Min and Max bound an Int.
	Min, Max int64
	// Choices are a Choice's allowed values.
	Choices []string
}

// Env is what defaults depend on.
type Env struct {
	// Now is the time relative times count from.
	Now time.Time
	// Tenant is the default of a tenant parameter.
	Tenant string
}

// parse validates text as p's type and returns the value it binds as.
func (p Param) parse(text string, env Env) (any, error) {
	switch p.Type {
	case String:
		if len(text) > 4096 {
			return nil, fmt.Errorf("longer than 4096 bytes")
		}
		return text, nil
	case IP:
		if text == "" {
			return "", nil
		}
		a, err := netip.ParseAddr(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", text)
		}
		return a.Unmap().String(), nil
	case Time:
		return parseTime(text, env.Now)
	case Duration:
		d, err := parseDuration(text)
		if err != nil {
			return nil, err
		}
		if d < time.Second {
			return nil, fmt.Errorf("%q: must be at least 1s", text)
		}
		return int64(d / time.Second), nil
	case Int:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		if n < p.Min || n > p.Max {
			return nil, fmt.Errorf("%d is not from %d to %d", n, p.Min, p.Max)
		}
		return n, nil
	case Choice:
		if !slices.Contains(p.Choices, text) {
			return nil, fmt.Errorf("%q is not one of %s", text, strings.Join(p.Choices, ", "))
		}
		return text, nil
	}
	return nil, fmt.Errorf("unknown parameter type %d", p.Type)
}

// parseTime reads now, -DURATION (before now), a date, a date and time,
// or RFC 3339; a time without a zone is UTC.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now.UTC().Truncate(time.Second), nil
	}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		d, err := parseDuration(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return now.UTC().Add(-d).Truncate(time.Second), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (now, -24h, -7d, 2006-01-02, 2006-01-02 15:04:05 or RFC 3339)", s)
}

// parseDuration reads a Go duration or a number of days (7d).
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36_500 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (90s, 10m, 2h, 7d)", s)
	}
	return d, nil
}
