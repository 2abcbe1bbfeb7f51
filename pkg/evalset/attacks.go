package evalset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// scheduler places the attacks after the warm-up. Each attack takes
// entities of its own (a user, a host, a compromised desk, a never-seen
// address), so labels never overlap on one entity, and draws its events
// from its own random stream.
type scheduler struct {
	g      *gen
	rng    *rand.Rand
	used   map[any]bool // users, hosts and addresses taken by an attack
	srcs   []source
	nextID int
	errs   []error
}

// schedule places every attack, or says which ones found no target.
func (g *gen) schedule() ([]source, error) {
	s := &scheduler{g: g, rng: rngFor(g.cfg.Seed, seqSchedule, 0), used: map[any]bool{}}
	a := g.cfg.Attacks
	for _, k := range []struct {
		n     int
		place func()
	}{
		{a.SilentSource, s.silent}, // first: silent hosts are then no other attack's target
		{a.BruteForce, func() { s.bruteForce(false) }},
		{a.LowAndSlow, func() { s.bruteForce(true) }},
		{a.Spraying, s.spraying},
		{a.PortScan, s.portScan},
		{a.HostScan, s.hostScan},
		{a.ExfilHost, s.exfilHost},
		{a.ExfilUser, s.exfilUser},
		{a.OffHoursLogin, s.offHours},
		{a.NewSource, s.newSource},
		{a.DBQueryVolume, s.dbVolume},
		{a.HTTPAuthFlood, s.httpFlood},
	} {
		for range k.n {
			k.place()
		}
	}
	return s.srcs, errors.Join(s.errs...)
}

// none records that an attack found no eligible target.
func (s *scheduler) none(key, what string) {
	s.errs = append(s.errs, fmt.Errorf("evalset: attacks.%s: no %s left to attack; lower the count or raise the population", key, what))
}

// add registers an attack starting at start whose events build pushes,
// drawing from its own random stream.
func (s *scheduler) add(start int64, build func(rng *rand.Rand, q *queue)) {
	rng := rngFor(s.g.cfg.Seed, seqAttack, s.nextID)
	s.nextID++
	s.srcs = append(s.srcs, &once{at: start, build: func(q *queue) { build(rng, q) }})
}

func (s *scheduler) label(profile, entity string, start, end int64, kind string, also map[string]string) {
	s.g.incidents = append(s.g.incidents, Label{Profile: profile, Tenant: s.g.cfg.Tenant, Entity: entity,
		Start: at(start), End: at(end), Kind: kind, Also: also})
}

// when draws a start in the evaluation period for an attack lasting d
// such that the attack ends before the period does and ok holds (nil: any).
func (s *scheduler) when(d int64, ok func(t int64) bool) int64 {
	g := s.g
	span := g.end - d - g.evalStart
	var t int64
	for range 5000 {
		t = (g.evalStart + s.rng.Int64N(span)) / second * second
		if ok == nil || ok(t) {
			return t
		}
	}
	return t
}

func minutes(rng *rand.Rand, lo, hi float64) int64 {
	return int64(uniform(rng, lo, hi) * float64(minute))
}

// spread returns n times in [start, start+d): the first at start, the rest
// one per n-th of d, jittered.
func spread(rng *rand.Rand, start, d int64, n int) []int64 {
	ts := make([]int64, n)
	step := d / int64(n)
	for i := range ts {
		ts[i] = start + int64(i)*step
		if i > 0 && step > 0 {
			ts[i] += rng.Int64N(step)
		}
	}
	return ts
}

// freshIP is a never-seen external address.
func (s *scheduler) freshIP(avoid ...uint32) string { return s.g.pop.ext.fresh(s.rng, avoid...) }

// take returns a random element of xs that no attack has taken and ok
// accepts, and takes it; false if none.
func take[T comparable](s *scheduler, xs []T, ok func(T) bool) (T, bool) {
	for _, i := range s.rng.Perm(len(xs)) {
		if x := xs[i]; !s.used[x] && (ok == nil || ok(x)) {
			s.used[x] = true
			return x, true
		}
	}
	var zero T
	return zero, false
}

// atLeast is the q-quantile of f over xs where keep holds.
func atLeast[T any](xs []T, f func(T) float64, keep func(T) bool, q float64) float64 {
	var v []float64
	for _, x := range xs {
		if keep(x) {
			v = append(v, f(x))
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[int(q*float64(len(v)-1))]
}

// working says whether t and t+d both fall in u's full working hours.
func working(u *user, d int64) func(int64) bool {
	return func(t int64) bool {
		return u.season(how(t/hourNs)) >= 0.6 && u.season(how((t+d)/hourNs)) >= 0.6
	}
}

// integrate is the sum of perHour over [from, to), pro rata per hour.
func integrate(from, to int64, perHour func(hr int64) float64) float64 {
	total := 0.0
	for t := from; t < to; {
		hr := t / hourNs
		e := min(to, (hr+1)*hourNs)
		total += perHour(hr) * float64(e-t) / float64(hourNs)
		t = e
	}
	return total
}

// busyHostBytes is a host's mean bytes out in an hour at its seasonal peak.
func busyHostBytes(h *host) float64 { return h.rate * meanBytes(h.bytesMedian) }

// busyUserBytes is a user's mean proxied bytes out in a working hour.
func busyUserBytes(u *user) float64 { return u.proxyRate * (1 + idleFloor) * meanBytes(u.bytesMedian) }

// usualQueries is a user's expected queries over [from, to).
func usualQueries(u *user, from, to int64) float64 {
	return integrate(from, to, func(hr int64) float64 { return u.dbRate * (u.season(how(hr)) + idleFloor) })
}

// bruteForce: failed ssh logins from a new external address against a
// bastion: 30–600 a minute for 5–60 minutes, or low and slow, 5–10 a minute
// for 30–120 minutes. Most try one to three accounts; one in six runs a
// dictionary of 10–40 names, which is also password spraying.
func (s *scheduler) bruteForce(slow bool) {
	rng, p := s.rng, s.g.pop
	rate, d, kind := logUniform(rng, 30, 600), minutes(rng, 5, 60), "brute_force"
	if slow {
		rate, d, kind = uniform(rng, 5, 10), minutes(rng, 30, 120), "low_and_slow"
	}
	n := max(1, int(math.Round(rate*float64(d)/float64(minute))))
	ip, h := s.freshIP(), pick(rng, p.bastions)
	var names []string
	var also map[string]string
	switch x := rng.Float64(); {
	case x < 0.6:
		names = []string{pick(rng, []string{"root", "admin", pick(rng, p.users).name})}
	case x < 5.0/6:
		names = []string{"root", "admin", pick(rng, botUsers)}[:2+rng.IntN(2)]
	default:
		for _, i := range rng.Perm(len(botUsers) + len(p.users))[:10+rng.IntN(31)] {
			if i < len(botUsers) {
				names = append(names, botUsers[i])
			} else {
				names = append(names, p.users[i-len(botUsers)].name)
			}
		}
		kind += "_dictionary"
		also = map[string]string{ProfilePasswordSpraying: ip}
	}
	start := s.when(d, nil)
	s.label(ProfileBruteForce, ip, start, start+d, kind, also)
	s.add(start, func(rng *rand.Rand, q *queue) {
		sport := ephemeral(rng)
		for i, t := range spread(rng, start, d, n) {
			if i%6 == 0 { // sshd allows a few tries per connection
				sport = ephemeral(rng)
			}
			name := names[i%len(names)]
			q.push(rec{t: t, kind: kindLogin, attack: true, outcome: "failure", invalid: !s.g.isUser(name), user: name,
				host: h.name, src: ip, dst: h.ip, sport: sport, dport: 22})
		}
	})
}

// spraying: a new external address tries 20–200 accounts (most of them
// real), 1–3 passwords each, round by round over 10–90 minutes. It is also
// a burst of failed logins from one address.
func (s *scheduler) spraying() {
	rng, p := s.rng, s.g.pop
	nu, d := int(math.Round(logUniform(rng, 20, 200))), minutes(rng, 10, 90)
	ip, h := s.freshIP(), pick(rng, p.bastions)
	seen := map[string]bool{}
	var names []string
	for len(names) < nu {
		name := pick(rng, p.users).name
		if rng.Float64() < 0.15 {
			name = pick(rng, firstNames) // guessed, not an account
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	var order []string
	tries := make([]int, nu)
	for i := range tries {
		tries[i] = 1 + rng.IntN(3)
	}
	for round := range 3 {
		for i, name := range names {
			if tries[i] > round {
				order = append(order, name)
			}
		}
	}
	start := s.when(d, nil)
	s.label(ProfilePasswordSpraying, ip, start, start+d, "spraying", map[string]string{ProfileBruteForce: ip})
	s.add(start, func(rng *rand.Rand, q *queue) {
		for i, t := range spread(rng, start, d, len(order)) {
			q.push(rec{t: t, kind: kindLogin, attack: true, outcome: "failure", invalid: !s.g.isUser(order[i]),
				user: order[i], host: h.name, src: ip, dst: h.ip, sport: ephemeral(rng), dport: 22})
		}
	})
}

// scanner is where a scan comes from: half from a new external address
// against a public host, half from a compromised internal desk against any
// host.
func (s *scheduler) scanner() (src string, target *host) {
	p := s.g.pop
	if s.rng.Float64() < 0.5 {
		if d, ok := take(s, p.desks, nil); ok {
			t, _ := take(s, p.hosts, func(h *host) bool { return h.role != roleMonitor })
			if t != nil {
				return d, t
			}
		}
	}
	return s.freshIP(), pick(s.rng, p.public)
}

// portScan: 100–2,000 distinct ports of one host in 1–30 minutes.
func (s *scheduler) portScan() {
	rng := s.rng
	np, d := int(math.Round(logUniform(rng, 100, 2000))), int64(logUniform(rng, 1, 30)*float64(minute))
	src, h := s.scanner()
	seen := map[uint16]bool{}
	var ports []uint16
	for _, i := range rng.Perm(len(wellKnownPorts)) {
		if len(ports) < np {
			ports = append(ports, wellKnownPorts[i])
			seen[wellKnownPorts[i]] = true
		}
	}
	for len(ports) < np {
		if p := uint16(1 + rng.IntN(65535)); !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	start := s.when(d, nil)
	s.label(ProfilePortScan, src, start, start+d, "port_scan", nil)
	s.add(start, func(rng *rand.Rand, q *queue) {
		for i, t := range spread(rng, start, d, np) {
			q.push(probe(rng, t, src, h.ip, h, ports[i]))
		}
	})
}

// probe is one scan connection attempt to ip:port (h nil: no host there).
func probe(rng *rand.Rand, t int64, src, ip string, h *host, port uint16) rec {
	r := rec{t: t, kind: kindFlow, attack: true, outcome: "unknown", src: src, dst: ip, sport: ephemeral(rng), dport: port, out: 60}
	if h == nil {
		return r
	}
	r.host = h.name
	switch {
	case port == 22 || port == rolePorts[h.role]:
		r.outcome, r.in = "success", 40
	case rng.Float64() < 0.7:
		r.outcome, r.in = "failure", 40
	}
	return r
}

// hostScan: 50–500 consecutive addresses of the server range, on 1–3 ports
// each, in 2–60 minutes. Some addresses hold no server.
func (s *scheduler) hostScan() {
	rng, p := s.rng, s.g.pop
	nh, d := int(math.Round(logUniform(rng, 50, 500))), int64(logUniform(rng, 2, 60)*float64(minute))
	ports := []uint16{22, 445, 3389, 80, 5985}
	rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	ports = ports[:1+rng.IntN(3)]
	src, _ := s.scanner()
	first := rng.IntN(4*254 - nh + 1)
	start := s.when(d, nil)
	s.label(ProfileHostScan, src, start, start+d, "host_scan", nil)
	s.add(start, func(rng *rand.Rand, q *queue) {
		ts := spread(rng, start, d, nh*len(ports))
		for i := range nh {
			a := first + i
			ip := addrString((a/254)<<8 | (a%254 + 1))
			for j, port := range ports {
				q.push(probe(rng, ts[i*len(ports)+j], src, ip, p.byIP[ip], port))
			}
		}
	})
}

// exfilHost: a server sends 10–100× the bytes of its usual busy hour to a
// new external address within 10–60 minutes, in 5–40 flows; half in
// business hours. (Ten times the usual bytes of the attack's own 10
// minutes would be within the noise of heavy-tailed flow sizes.)
func (s *scheduler) exfilHost() {
	rng, p := s.rng, s.g.pop
	busy := atLeast(p.hosts, func(h *host) float64 { return h.rate }, func(*host) bool { return true }, 0.5)
	h, ok := take(s, p.hosts, func(h *host) bool {
		return (h.role == roleApp || h.role == roleDB || h.role == roleWeb) && !h.backup && h.rate >= busy
	})
	if !ok {
		s.none("exfil_host", "busy server")
		return
	}
	d, mult := minutes(rng, 10, 60), logUniform(rng, 10, 100)
	var ok2 func(int64) bool
	if rng.Float64() < 0.5 {
		ok2 = func(t int64) bool { return business(how(t/hourNs)) == 1 }
	}
	start := s.when(d, ok2)
	total := mult * busyHostBytes(h)
	dst := s.freshIP()
	s.label(ProfileExfilHost, h.name, start, start+d, "exfiltration_host", nil)
	s.add(start, func(rng *rand.Rand, q *queue) {
		n := 5 + rng.IntN(36)
		for i, t := range spread(rng, start, d, n) {
			q.push(rec{t: t, kind: kindFlow, attack: true, outcome: "success", host: h.name, src: h.ip, dst: dst,
				sport: ephemeral(rng), dport: 443, out: share(total, i, n), in: uint64(2000 + rng.IntN(8000))})
		}
	})
}

// share is the i-th of n near-equal parts of total, the last taking the
// rounding, so the parts sum to total.
func share(total float64, i, n int) uint64 {
	part := uint64(total) / uint64(n)
	if i == n-1 {
		return uint64(total) - part*uint64(n-1)
	}
	return part
}

// exfilUser: in working hours, a user sends 10–100× the proxied bytes of
// their usual working hour to a new external address within 10–60
// minutes. The proxy relays it, so exfiltration_host may rightly alert on
// the proxy.
func (s *scheduler) exfilUser() {
	rng, p := s.rng, s.g.pop
	busy := atLeast(p.users, func(u *user) float64 { return u.proxyRate }, func(u *user) bool { return u.proxyRate > 0 }, 0.5)
	u, ok := take(s, p.users, func(u *user) bool { return u.proxyRate >= busy && u.proxyRate > 0 })
	if !ok {
		s.none("exfil_user", "busy proxy user")
		return
	}
	d, mult := minutes(rng, 10, 60), logUniform(rng, 10, 100)
	start := s.when(d, working(u, d))
	total := mult * busyUserBytes(u)
	dst := s.freshIP()
	s.label(ProfileExfilUser, u.name, start, start+d, "exfiltration_user", map[string]string{ProfileExfilHost: u.proxy.name})
	s.add(start, func(rng *rand.Rand, q *queue) {
		src, _ := p.source(rng, u, start)
		n := 5 + rng.IntN(36)
		for i, t := range spread(rng, start, d, n) {
			r := s.g.proxied(rng, u, t, src, dst)
			r.attack, r.out = true, share(total, i, n)
			q.push(r)
		}
	})
}

// offHours: a day worker who never logs in at night (not on call, no
// weekend work, few evening logins) logs in 1–3 times between 00:00 and
// 05:00, within half an hour, from the office address they always use;
// most on a weekend night.
func (s *scheduler) offHours() {
	rng, p := s.rng, s.g.pop
	quiet := atLeast(p.users, func(u *user) float64 { return u.offRate }, func(*user) bool { return true }, 0.25)
	u, ok := take(s, p.users, func(u *user) bool {
		return !u.onCall && !u.remote && u.weekend == 0 && u.offRate <= quiet && u.loginRate >= 0.3
	})
	if !ok {
		s.none("off_hours_login", "day worker")
		return
	}
	night := func(weekend bool) func(int64) bool {
		return func(t int64) bool {
			w := how(t / hourNs)
			d, hd := w/24, w%24
			return hd < 5 && how((t+30*minute)/hourNs)%24 < 5 && (!weekend || d == 0 || d == 6)
		}
	}
	var start int64
	if rng.Float64() < 0.6 {
		start = s.when(30*minute, night(true))
	}
	if !night(true)(start) {
		start = s.when(30*minute, night(false))
	}
	ts := []int64{start}
	for range rng.IntN(3) {
		ts = append(ts, start+rng.Int64N(30*minute))
	}
	slices.Sort(ts)
	s.label(ProfileUnusualHour, u.name, start, ts[len(ts)-1], "off_hours_login", nil)
	s.logins(u, ts, u.office, causeNone)
}

// logins pushes successful logins of u from src at ts to u's main host.
func (s *scheduler) logins(u *user, ts []int64, src string, why cause) {
	h := u.hosts[0]
	s.add(ts[0], func(rng *rand.Rand, q *queue) {
		for _, t := range ts {
			q.push(rec{t: t, kind: kindLogin, attack: true, cause: why, outcome: "success", user: u.name, host: h.name,
				src: src, dst: h.ip, sport: ephemeral(rng), dport: 22})
		}
	})
}

// newSource: in working hours, a user logs in 1–3 times within half an
// hour from a never-seen external address in a /24 they never used.
func (s *scheduler) newSource() {
	rng, p := s.rng, s.g.pop
	u, ok := take(s, p.users, func(u *user) bool { return u.loginRate >= 0.3 })
	if !ok {
		s.none("new_source", "user who logs in")
		return
	}
	start := s.when(30*minute, working(u, 30*minute))
	ip := s.freshIP(u.knownNets()...)
	ts := []int64{start}
	for range rng.IntN(3) {
		ts = append(ts, start+rng.Int64N(30*minute))
	}
	slices.Sort(ts)
	end := ts[len(ts)-1]
	s.label(ProfileNewUserSource, userSource(u.name, ip), start, end, "new_source", nil)
	s.label(ProfileNewUserSubnet, userSubnet(u.name, ip), start, end, "new_source", nil)
	s.logins(u, ts, ip, causeLabelled)
}

// dbVolume: a user runs 20–100× their usual queries for 10–60 minutes in
// working hours (at least 30 queries), from their usual address.
func (s *scheduler) dbVolume() {
	rng, p := s.rng, s.g.pop
	busy := atLeast(p.users, func(u *user) float64 { return u.dbRate }, func(u *user) bool { return u.dbRate > 0 }, 0.5)
	for range 100 {
		u, ok := take(s, p.users, func(u *user) bool { return u.dbRate >= busy && u.dbRate > 0 })
		if !ok {
			break
		}
		d, mult := minutes(rng, 10, 60), logUniform(rng, 20, 100)
		start := s.when(d, working(u, d))
		n := int(math.Round(mult * usualQueries(u, start, start+d)))
		if n < 30 {
			delete(s.used, u)
			continue
		}
		s.label(ProfileDBQueryVolume, u.name, start, start+d, "db_query_volume", nil)
		s.add(start, func(rng *rand.Rand, q *queue) {
			src, _ := p.source(rng, u, start)
			for _, t := range spread(rng, start, d, n) {
				r := s.g.query(rng, u, t, src)
				r.attack = true
				q.push(r)
			}
		})
		return
	}
	s.none("db_query_volume", "busy database user")
}

// httpFlood: 20–300 login requests a minute for 5–30 minutes against a
// public web server, nine in ten answered 401 or 403; from a new address,
// or (three in ten) from an internet background address seen before.
func (s *scheduler) httpFlood() {
	rng, p := s.rng, s.g.pop
	rate, d := logUniform(rng, 20, 300), minutes(rng, 5, 30)
	n := max(1, int(math.Round(rate*float64(d)/float64(minute))))
	ip := ""
	if rng.Float64() < 0.3 {
		ip, _ = take(s, p.noise, nil)
	}
	if ip == "" {
		ip = s.freshIP()
	}
	h := pick(rng, p.pubWeb)
	start := s.when(d, nil)
	s.label(ProfileHTTPAuthFailures, ip, start, start+d, "http_auth_flood", nil)
	s.add(start, func(rng *rand.Rand, q *queue) {
		for _, t := range spread(rng, start, d, n) {
			q.push(rec{t: t, kind: kindHTTP, attack: true, host: h.name, src: ip, dst: h.ip, sport: ephemeral(rng),
				dport: 443, status: status(rng, 401, odds{0.05, 200}, odds{0.05, 404}, odds{0.3, 403}), detail: pick(rng, []string{"/login", "/api/v1/auth"}),
				out: uint64(400 + rng.IntN(300)), in: uint64(150 + rng.IntN(200))})
		}
	})
}

// silent: one of the busiest quarter of application and internal web
// servers, one that sends at least 20 flows in the span at its usual rate,
// stops sending anything for 2–6 hours, starting 09:00–13:00 on a weekday.
func (s *scheduler) silent() {
	rng, p := s.rng, s.g.pop
	d := int64(uniform(rng, 2, 6) * float64(hourNs))
	eligible := func(h *host) bool {
		return (h.role == roleApp || h.role == roleWeb && !h.public) && !h.backup && h.amp >= 0.4
	}
	busy := atLeast(p.hosts, func(h *host) float64 { return h.rate }, eligible, 0.75)
	h, ok := take(s, p.hosts, func(h *host) bool {
		return eligible(h) && h.rate >= busy && h.rate*float64(d)/float64(hourNs) >= 20
	})
	if !ok {
		s.none("silent_source", "busy server")
		return
	}
	start := s.when(d, func(t int64) bool {
		w := how(t / hourNs)
		return w/24 >= 1 && w/24 <= 5 && w%24 >= 9 && w%24 < 13
	})
	s.label(ProfileSilentSource, h.name, start, start+d, "silent_source", nil)
	s.g.silent[h.name] = append(s.g.silent[h.name], span{start, start + d})
}
