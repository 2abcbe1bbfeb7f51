package evalset

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Profile names: the detection engine's built-in profiles. A label names the
// profile that should alert on it.
const (
	ProfileBruteForce       = "brute_force"        // failed logins per source.ip
	ProfilePasswordSpraying = "password_spraying"  // distinct users with failed logins per source.ip
	ProfilePortScan         = "port_scan"          // distinct destination.port per source.ip
	ProfileHostScan         = "host_scan"          // distinct destination.ip per source.ip
	ProfileExfilHost        = "exfiltration_host"  // source.bytes per host.name
	ProfileExfilUser        = "exfiltration_user"  // source.bytes per user.name
	ProfileUnusualHour      = "unusual_hour_login" // a login at an hour-of-week unusual for the user
	ProfileNewUserSource    = "new_user_source"    // first login of user.name from a source.ip
	ProfileNewUserSubnet    = "new_user_subnet"    // first login of user.name from a /24
	ProfileDBQueryVolume    = "db_query_volume"    // db_query events per user.name
	ProfileHTTPAuthFailures = "http_auth_failures" // HTTP 401/403 per source.ip
	ProfileSilentSource     = "silent_source"      // a host.name whose events stop
)

// Profiles lists the profile names in the order reports print them.
func Profiles() []string {
	return []string{
		ProfileBruteForce, ProfilePasswordSpraying, ProfilePortScan, ProfileHostScan,
		ProfileExfilHost, ProfileExfilUser, ProfileUnusualHour, ProfileNewUserSource,
		ProfileNewUserSubnet, ProfileDBQueryVolume, ProfileHTTPAuthFailures, ProfileSilentSource,
	}
}

// Label is one labelled incident (an attack, or benign activity a profile
// rightly flags) or one benign burst (activity no profile should flag).
type Label struct {
	// Profile is the profile that should alert on Entity during [Start, End].
	Profile string `json:"profile"`
	// Tenant is the events' organization.id.
	Tenant string `json:"tenant"`
	// Entity is the value of the profile's entity key exactly as the engine
	// forms it: a field value (a source.ip, host.name or user.name), or for
	// the rarity profiles "user|source.ip" and "user|a.b.c.0/24".
	Entity string `json:"entity"`
	// Start and End bound the event times of the injected activity.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Kind says what was injected, e.g. "low_and_slow" or "travel" (see
	// README.md for the list).
	Kind string `json:"kind"`
	// Benign marks activity that is not an attack. Among the incidents, a
	// benign label is one its profiles rightly flag (a traveller's login from
	// a new address is a new user source): alerts on it are neither true
	// nor false.
	Benign bool `json:"benign,omitempty"`
	// Also maps other profiles that may rightly alert on the same activity to
	// the entity as that profile forms it: a password spray is also a burst of
	// failed logins per source.ip, so {"brute_force": "198.18.7.9"}.
	Also map[string]string `json:"also,omitempty"`
}

// Labels is what Generate injected: the incidents to detect, the benign
// bursts that should not alert, and the period they are scored over.
type Labels struct {
	// Seed and Tenant of the configuration that generated the events.
	Seed   uint64 `json:"seed"`
	Tenant string `json:"tenant"`
	// Start and End bound the events' timestamps; EvalStart ends the warm-up.
	// Incidents and bursts all lie in [EvalStart, End); alerts raised before
	// EvalStart are not scored.
	Start     time.Time `json:"start"`
	EvalStart time.Time `json:"eval_start"`
	End       time.Time `json:"end"`
	// Events is the number of events emitted.
	Events int64 `json:"events"`
	// Incidents are the attacks (Benign false), which make recall, and the
	// benign activity their profiles rightly flag (Benign true).
	Incidents []Label `json:"incidents"`
	// Bursts are benign activity that stresses a profile but that it should
	// not flag (a user mistyping a password four times, the weekly backup, a
	// monitoring sweep, an evening login). An alert on one is a false alert;
	// the report counts how many false alerts fell on bursts.
	Bursts []Label `json:"bursts"`
}

// WriteJSON writes l as one indented JSON document.
func (l Labels) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}

// ReadLabels reads what WriteJSON wrote.
func ReadLabels(r io.Reader) (Labels, error) {
	var l Labels
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Labels{}, fmt.Errorf("read labels: %w", err)
	}
	return l, nil
}

// userSource is the new_user_source entity of a user and an address.
func userSource(user, ip string) string { return user + "|" + ip }

// userSubnet is the new_user_subnet entity: the user and the address's /24
// (IPv4) or /64 (IPv6).
func userSubnet(user, ip string) string { return user + "|" + subnetOf(ip) }

func subnetOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p.String()
}
