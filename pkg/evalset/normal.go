package evalset

import (
	"math"
	"math/rand/v2"
	"time"
)

// The normal traffic: one source per user (logins, queries, proxied
// browsing, web requests in working hours), one per user for off-hours
// logins, one per host (its outbound flows), one per monitoring host, one
// per backup, one per internet background address.

const (
	second = int64(time.Second)
	minute = int64(time.Minute)
)

func ephemeral(rng *rand.Rand) uint16 { return uint16(32768 + rng.IntN(28232)) }

// activities of a user's working day, in daySource.w order.
const (
	actLogin = iota
	actQuery
	actProxy
	actWeb
	nActs
)

// daySource is a user's working-day activity. Every hour has its own
// over-dispersion, shared by all the user's activities.
type daySource struct {
	g   *gen
	u   *user
	rng *rand.Rand
	c   clock
	w   [nActs]float64
	sum float64
	// reportP and uploadP are the chances that one query starts a report
	// job, and one proxied request is a big upload.
	reportP, uploadP float64
}

func newDaySource(g *gen, u *user, rng *rand.Rand) *daySource {
	s := &daySource{g: g, u: u, rng: rng}
	// About 45 peak hours a week: one report job every two weeks, one big
	// upload every three.
	if u.dbRate > 0 {
		s.reportP = min(0.5, 0.5/(u.dbRate*45))
	}
	if u.proxyRate > 0 {
		s.uploadP = min(0.5, 0.33/(u.proxyRate*45))
	}
	s.c = newClock(g.start, g.end, s)
	return s
}

func (s *daySource) hourRate(h int64) float64 {
	se := s.u.season(how(h))
	m := noise(s.rng, 0.5)
	s.w[actLogin] = s.u.loginRate * se * m
	s.w[actQuery] = s.u.dbRate * (se + idleFloor) * m
	s.w[actProxy] = s.u.proxyRate * (se + idleFloor) * m
	s.w[actWeb] = s.u.webRate * (se + idleFloor) * m
	s.sum = s.w[0] + s.w[1] + s.w[2] + s.w[3]
	return s.sum
}

func (s *daySource) next() (int64, bool) { return s.c.next(s.rng, s) }

func (s *daySource) expand(t int64, q *queue) {
	g, u, rng := s.g, s.u, s.rng
	src, why := g.pop.source(rng, u, t)
	x := rng.Float64() * s.sum
	switch {
	case x < s.w[actLogin]:
		g.login(rng, q, u, t, src, why)
	case x < s.w[actLogin]+s.w[actQuery]:
		q.push(g.query(rng, u, t, src))
		if rng.Float64() < s.reportP {
			s.report(t, src, q)
		}
	case x < s.w[actLogin]+s.w[actQuery]+s.w[actProxy]:
		r := g.proxied(rng, u, t, src, pick(rng, u.sites))
		if rng.Float64() < s.uploadP {
			m := uniform(rng, 3, 8)
			r.out = uint64(m * u.proxyRate * meanBytes(u.bytesMedian))
			g.burst(Label{Profile: ProfileExfilUser, Entity: u.name, Start: at(t), End: at(t), Kind: "big_upload"})
		}
		q.push(r)
	default:
		q.push(g.webRequest(rng, u, t, src))
	}
}

// report is a benign burst of queries: a report job running 3–8× the
// user's peak rate for 20–60 minutes.
func (s *daySource) report(t int64, src string, q *queue) {
	rng := s.rng
	d := int64(uniform(s.rng, 20, 60) * float64(minute))
	n := max(1, int(uniform(rng, 3, 8)*s.u.dbRate*float64(d)/float64(hourNs)))
	for i := range n {
		q.push(s.g.query(rng, s.u, t+d*int64(i)/int64(n)+rng.Int64N(d/int64(n)+1), src))
	}
	s.g.burst(Label{Profile: ProfileDBQueryVolume, Entity: s.u.name, Start: at(t), End: at(t + d), Kind: "report_job"})
}

// offSource is a user's off-hours logins: evenings and weekend days, and
// nights for those on call.
type offSource struct {
	g   *gen
	u   *user
	rng *rand.Rand
	c   clock
}

func newOffSource(g *gen, u *user, rng *rand.Rand) *offSource {
	s := &offSource{g: g, u: u, rng: rng}
	s.c = newClock(g.start, g.end, s)
	return s
}

func (s *offSource) hourRate(h int64) float64 { return s.u.offSeason(how(h)) }
func (s *offSource) next() (int64, bool)      { return s.c.next(s.rng, s) }

func (s *offSource) expand(t int64, q *queue) {
	src, why := s.g.pop.source(s.rng, s.u, t)
	s.g.login(s.rng, q, s.u, t, src, why)
	k := "off_hours"
	if hd := how(t/hourNs) % 24; s.u.onCall && (hd < 7 || hd >= 20) {
		k = "on_call"
	}
	s.g.burst(Label{Profile: ProfileUnusualHour, Entity: s.u.name, Start: at(t), End: at(t), Kind: k})
}

// login pushes a successful ssh login, now and then after mistyped
// passwords: one (3%), two (0.5%), or 3–5 (0.3%, a labelled burst).
func (g *gen) login(rng *rand.Rand, q *queue, u *user, t int64, src string, why cause) {
	h := u.hosts[0]
	if rng.Float64() < 0.4 {
		h = pick(rng, u.hosts)
	}
	r := rec{t: t, kind: kindLogin, user: u.name, host: h.name, src: src, dst: h.ip, sport: ephemeral(rng), dport: 22, cause: why}
	fails := 0
	switch x := rng.Float64(); {
	case x < 0.003:
		fails = 3 + rng.IntN(3)
	case x < 0.008:
		fails = 2
	case x < 0.038:
		fails = 1
	}
	for range fails {
		r.outcome = "failure"
		q.push(r)
		r.t += 3*second + rng.Int64N(12*second)
	}
	r.outcome = "success"
	q.push(r)
	if fails >= 3 {
		g.burst(Label{Profile: ProfileBruteForce, Entity: src, Start: at(t), End: at(r.t), Kind: "mistype"})
	}
}

var statements = []string{
	"SELECT * FROM orders WHERE customer_id = $1",
	"SELECT id, status FROM shipments WHERE updated_at > $1",
	"UPDATE orders SET status = $1 WHERE id = $2",
	"INSERT INTO audit_log (actor, action) VALUES ($1, $2)",
	"SELECT count(*) FROM invoices WHERE due_date < now()",
	"SELECT name, email FROM customers WHERE id = $1",
	"DELETE FROM sessions WHERE expires_at < now()",
}

func (g *gen) query(rng *rand.Rand, u *user, t int64, src string) rec {
	r := rec{t: t, kind: kindQuery, outcome: "success", user: u.name, host: u.db.name, src: src, dst: u.db.ip,
		sport: ephemeral(rng), dport: 5432, detail: pick(rng, statements), value: math.Round(lognormal(rng, 2, 1)*1000) / 1000}
	if rng.Float64() < 0.005 {
		r.outcome = "failure"
	}
	return r
}

// proxied is a user's request through the proxy to dst.
func (g *gen) proxied(rng *rand.Rand, u *user, t int64, src, dst string) rec {
	return rec{t: t, kind: kindFlow, outcome: "success", user: u.name, host: u.proxy.name, src: src, dst: dst,
		sport: ephemeral(rng), dport: 443, out: uint64(lognormal(rng, u.bytesMedian, bytesSigma)),
		in: uint64(lognormal(rng, 8*u.bytesMedian, 1.2))}
}

var appPaths = []string{"/", "/api/orders", "/api/customers", "/dashboard", "/api/reports", "/static/app.js", "/login"}

// odds is the probability of an HTTP status.
type odds struct {
	p      float64
	status uint16
}

// status draws one of shares' statuses with its probability, else otherwise.
func status(rng *rand.Rand, otherwise uint16, shares ...odds) uint16 {
	x := rng.Float64()
	for _, s := range shares {
		if x < s.p {
			return s.status
		}
		x -= s.p
	}
	return otherwise
}

// webRequest is a user's request to an internal web application; one in a
// hundred is refused with a 401 (an expired session) or a 403.
func (g *gen) webRequest(rng *rand.Rand, u *user, t int64, src string) rec {
	return rec{t: t, kind: kindHTTP, user: u.name, host: u.web.name, src: src, dst: u.web.ip, sport: ephemeral(rng),
		dport: 443, status: status(rng, 200, odds{0.012, 401}, odds{0.004, 403}, odds{0.03, 404}, odds{0.004, 500}, odds{0.05, 304}),
		detail: pick(rng, appPaths), out: uint64(300 + rng.IntN(1200)),
		in: uint64(lognormal(rng, 5000, 1))}
}

// hostSource is a server's outbound flows to its peers.
type hostSource struct {
	g   *gen
	h   *host
	rng *rand.Rand
	c   clock
}

func newHostSource(g *gen, h *host, rng *rand.Rand) *hostSource {
	s := &hostSource{g: g, h: h, rng: rng}
	s.c = newClock(g.start, g.end, s)
	return s
}

func (s *hostSource) hourRate(hr int64) float64 {
	return s.h.rate * s.h.season(how(hr)) * noise(s.rng, 0.4)
}

func (s *hostSource) next() (int64, bool) { return s.c.next(s.rng, s) }

func (s *hostSource) expand(t int64, q *queue) {
	rng, h := s.rng, s.h
	p := pick(rng, h.peers)
	r := rec{t: t, kind: kindFlow, outcome: "success", host: h.name, src: h.ip, dst: p.ip, sport: ephemeral(rng),
		dport: p.port, out: uint64(lognormal(rng, h.bytesMedian, bytesSigma)), in: uint64(lognormal(rng, 2*h.bytesMedian, 1.2))}
	if rng.Float64() < 0.01 {
		r.outcome, r.in = "failure", 0
	}
	q.push(r)
}

// monitorSource is a monitoring host: it polls its targets' exporters every
// 30 minutes, and once a day sweeps a few hosts' ports (a labelled burst).
type monitorSource struct {
	g                  *gen
	h                  *host
	rng                *rand.Rand
	targets, swept     []*host
	ports              []uint16
	nextPoll, nextScan int64
}

func newMonitorSource(g *gen, h *host, rng *rand.Rand) *monitorSource {
	s := &monitorSource{g: g, h: h, rng: rng}
	for range min(len(g.pop.hosts), 50+rng.IntN(100)) {
		s.targets = append(s.targets, pick(rng, g.pop.hosts))
	}
	for range 3 + rng.IntN(6) {
		s.swept = append(s.swept, pick(rng, g.pop.hosts))
	}
	seen := map[uint16]bool{}
	for n := 30 + rng.IntN(51); len(s.ports) < n; {
		p := pick(rng, wellKnownPorts)
		if rng.Float64() < 0.5 {
			p = uint16(1 + rng.IntN(1024))
		}
		if !seen[p] {
			seen[p] = true
			s.ports = append(s.ports, p)
		}
	}
	day := g.start / (24 * hourNs) * (24 * hourNs)
	s.nextPoll = g.start + rng.Int64N(30*minute)
	s.nextScan = day + 2*hourNs + rng.Int64N(50*minute)
	for s.nextScan < g.start {
		s.nextScan += 24 * hourNs
	}
	return s
}

func (s *monitorSource) next() (int64, bool) {
	t := min(s.nextPoll, s.nextScan)
	return t, t < s.g.end
}

func (s *monitorSource) expand(t int64, q *queue) {
	rng, h := s.rng, s.h
	if t == s.nextScan {
		s.nextScan += 24 * hourNs
		at0 := t
		for _, d := range s.swept {
			for _, p := range s.ports {
				r := rec{t: t, kind: kindFlow, outcome: "failure", host: h.name, src: h.ip, dst: d.ip,
					sport: ephemeral(rng), dport: p, out: 60}
				if p == rolePorts[d.role] || p == 22 || p == 9100 {
					r.outcome, r.in = "success", 120
				}
				q.push(r)
				t += 10*int64(time.Millisecond) + rng.Int64N(190*int64(time.Millisecond))
			}
		}
		s.g.burst(Label{Profile: ProfilePortScan, Entity: h.ip, Start: at(at0), End: at(t), Kind: "monitoring_sweep"})
		return
	}
	s.nextPoll += 30 * minute
	for _, d := range s.targets {
		q.push(rec{t: t, kind: kindFlow, outcome: "success", host: h.name, src: h.ip, dst: d.ip, sport: ephemeral(rng),
			dport: 9100, out: uint64(250 + rng.IntN(100)), in: uint64(lognormal(rng, 20e3, 0.3))})
		t += 10*int64(time.Millisecond) + rng.Int64N(50*int64(time.Millisecond))
	}
}

var wellKnownPorts = []uint16{21, 22, 23, 25, 53, 80, 110, 123, 135, 139, 143, 161, 389, 443, 445, 465, 587, 636,
	873, 993, 995, 1433, 1521, 2049, 3128, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9090, 9100, 9200, 11211, 27017}

// backupSource is a host's weekly backup to the backup server, on Saturday
// night at the same time each week, as svc-backup: 50–150× the host's peak
// hourly bytes over 1–2 hours. A labelled burst.
type backupSource struct {
	g    *gen
	h    *host
	rng  *rand.Rand
	week time.Time // the next backup's scheduled start
}

const backupUser = "svc-backup"

func newBackupSource(g *gen, h *host, rng *rand.Rand) *backupSource {
	s := &backupSource{g: g, h: h, rng: rng}
	t := time.Unix(0, g.start).UTC()
	sat := t.AddDate(0, 0, (int(time.Saturday)-int(t.Weekday())+7)%7)
	s.week = time.Date(sat.Year(), sat.Month(), sat.Day(), 1, rng.IntN(50), 0, 0, time.UTC)
	for s.week.UnixNano() < g.start {
		s.week = s.week.AddDate(0, 0, 7)
	}
	return s
}

func (s *backupSource) next() (int64, bool) {
	t := s.week.UnixNano() + s.rng.Int64N(5*minute)
	s.week = s.week.AddDate(0, 0, 7)
	return t, t < s.g.end
}

func (s *backupSource) expand(t int64, q *queue) {
	rng, h, dst := s.rng, s.h, s.g.pop.backups
	d := int64(uniform(rng, 60, 120) * float64(minute))
	total := uniform(rng, 50, 150) * h.rate * meanBytes(h.bytesMedian)
	n := 20 + rng.IntN(41)
	for i := range n {
		q.push(rec{t: t + d*int64(i)/int64(n), kind: kindFlow, outcome: "success", user: backupUser, host: h.name,
			src: h.ip, dst: dst.ip, sport: ephemeral(rng), dport: 873, out: uint64(total / float64(n) * uniform(rng, 0.5, 1.5)),
			in: uint64(2000 + rng.IntN(5000))})
	}
	s.g.burst(Label{Profile: ProfileExfilHost, Entity: h.name, Start: at(t), End: at(t + d), Kind: "backup",
		Also: map[string]string{ProfileExfilUser: backupUser}})
}

// noiseSource is one internet background address: now and then it tries a
// few passwords on a bastion, probes a few ports, or asks a public web
// server for a few well-known paths. Flat over the week, bursty by hour.
type noiseSource struct {
	g    *gen
	ip   string
	rate float64
	rng  *rand.Rand
	c    clock
}

func newNoiseSource(g *gen, ip string, rng *rand.Rand) *noiseSource {
	s := &noiseSource{g: g, ip: ip, rng: rng, rate: min(2, lognormal(rng, 0.02, 1.5))}
	s.c = newClock(g.start, g.end, s)
	return s
}

func (s *noiseSource) hourRate(int64) float64 { return s.rate * noise(s.rng, 0.8) }
func (s *noiseSource) next() (int64, bool)    { return s.c.next(s.rng, s) }

var (
	botUsers = []string{"root", "admin", "test", "user", "ubuntu", "oracle", "postgres", "git", "pi", "guest", "ftp", "support"}
	botPaths = []string{"/wp-login.php", "/.env", "/admin", "/phpmyadmin/", "/cgi-bin/luci", "/.git/config", "/login", "/api/v1/auth"}
)

func (s *noiseSource) expand(t int64, q *queue) {
	rng, p := s.rng, s.g.pop
	switch x := rng.Float64(); {
	case x < 0.4:
		h := pick(rng, p.bastions)
		for range 1 + rng.IntN(4) {
			q.push(rec{t: t, kind: kindLogin, outcome: "failure", invalid: true, user: pick(rng, botUsers), host: h.name,
				src: s.ip, dst: h.ip, sport: ephemeral(rng), dport: 22})
			t += second + rng.Int64N(4*second)
		}
	case x < 0.8:
		h := pick(rng, p.public)
		for range 1 + rng.IntN(6) {
			r := rec{t: t, kind: kindFlow, outcome: "failure", host: h.name, src: s.ip, dst: h.ip, sport: ephemeral(rng),
				dport: pick(rng, wellKnownPorts), out: 60}
			if rng.Float64() < 0.3 {
				r.outcome = "unknown"
			}
			q.push(r)
			t += 100*int64(time.Millisecond) + rng.Int64N(2*second)
		}
	default:
		h := pick(rng, p.pubWeb)
		for range 1 + rng.IntN(5) {
			q.push(rec{t: t, kind: kindHTTP, host: h.name, src: s.ip, dst: h.ip, sport: ephemeral(rng), dport: 443,
				status: status(rng, 404, odds{0.1, 401}, odds{0.1, 403}, odds{0.1, 200}), detail: pick(rng, botPaths), out: uint64(200 + rng.IntN(400)), in: uint64(150 + rng.IntN(500))})
			t += 200*int64(time.Millisecond) + rng.Int64N(3*second)
		}
	}
}

// at converts ns since the epoch to a UTC time with millisecond precision,
// as events carry it.
func at(t int64) time.Time { return time.UnixMilli(t / int64(time.Millisecond)).UTC() }
