package testkit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

// FailedLogin returns one failed SSH login from ip at ts, with an id unique
// to (ip, ts).
func FailedLogin(ip string, ts time.Time) *event.Event {
	return &event.Event{
		Version: 1, ID: event.NewID("default", "test", ts.UnixNano(), []byte(ip)),
		Timestamp: ts, Ingested: ts, Tenant: "default", Source: "sshd",
		Category: event.CategoryAuthentication, Action: "ssh_login", Outcome: event.OutcomeFailure, SrcIP: ip,
	}
}

// FailedLogins generates failed logins: every one of Background IPs
// (198.51.100.1 and up) fails a Poisson number of times a minute at its own
// rate (0.5 to 7.5), for Minutes minutes; a burst adds BurstSize failures
// from BurstIP, spread over minute BurstAt.
type FailedLogins struct {
	Background         int
	Minutes            int
	BurstIP            string
	BurstAt, BurstSize int
}

// Events returns the failed logins from begin on, random by seed, in the
// order generated (use SortByTime for time order).
func (tr FailedLogins) Events(begin time.Time, seed uint64) []*event.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*event.Event
	for m := range tr.Minutes {
		start := begin.Add(time.Duration(m) * time.Minute)
		for i := range tr.Background {
			rate := 0.5 + float64(i%8)
			for range poisson(rng, rate) {
				out = append(out, FailedLogin(fmt.Sprintf("198.51.100.%d", i+1), start.Add(time.Duration(rng.IntN(60_000))*time.Millisecond)))
			}
		}
		if tr.BurstIP != "" && m == tr.BurstAt {
			for j := range tr.BurstSize {
				out = append(out, FailedLogin(tr.BurstIP, start.Add(time.Duration(j*60_000/tr.BurstSize)*time.Millisecond)))
			}
		}
	}
	return out
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// SortByTime orders evs by timestamp, stably.
func SortByTime(evs []*event.Event) {
	slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Timestamp.Compare(b.Timestamp) })
}

// MinuteBruteForce is a brute_force profile with one-minute windows that
// alerts from 10 failures: the shape the tests of windows, offsets and
// incidents are written for (the built-in one counts five minutes).
func MinuteBruteForce() config.ProfileConfig {
	for _, p := range config.BuiltinProfiles() {
		if p.Name == "brute_force" {
			p.Window, p.MinValue = time.Minute, 10
			return p
		}
	}
	panic("no built-in brute_force profile")
}
