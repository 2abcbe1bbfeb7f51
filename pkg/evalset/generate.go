package evalset

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Random streams: every user, host, address and attack draws from a PCG
// stream of its own, keyed by the seed, so adding an attack leaves the
// normal traffic as it was.
const (
	streamPopulation uint64 = 0
	seqSchedule      uint64 = 1 << 32
	seqUser          uint64 = 2 << 32
	seqOff           uint64 = 3 << 32
	seqHost          uint64 = 4 << 32
	seqMonitor       uint64 = 5 << 32
	seqBackup        uint64 = 6 << 32
	seqNoise         uint64 = 7 << 32
	seqAttack        uint64 = 8 << 32
)

func rngFor(seed, seq uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seq|uint64(i)))
}

// span is a half-open interval of ns since the epoch.
type span struct{ from, to int64 }

// gen holds one generation's state.
type gen struct {
	cfg                   Config
	start, evalStart, end int64
	pop                   *population
	users                 map[string]bool
	incidents, bursts     []Label
	silent                map[string][]span
	// seen holds the user|source and user|subnet pairs of every successful
	// login emitted so far: a first one after the warm-up is labelled.
	seen   map[string]bool
	n      int64
	origin string
	buf    []byte
}

func newGen(cfg Config) *gen {
	start := cfg.Start.UTC().UnixNano()
	g := &gen{
		cfg:       cfg,
		start:     start,
		evalStart: start + int64(cfg.WarmUp),
		end:       start + int64(cfg.Duration),
		pop:       newPopulation(cfg),
		users:     map[string]bool{},
		silent:    map[string][]span{},
		seen:      map[string]bool{},
		origin:    "evalset/" + strconv.FormatUint(cfg.Seed, 10),
	}
	for _, u := range g.pop.users {
		g.users[u.name] = true
	}
	return g
}

func (g *gen) isUser(name string) bool { return g.users[name] }

// burst records a benign burst that lies in the evaluation period.
func (g *gen) burst(l Label) {
	if t := l.Start.UnixNano(); t < g.evalStart || t >= g.end {
		return
	}
	l.Tenant = g.cfg.Tenant
	g.bursts = append(g.bursts, l)
}

// Generate streams cfg's events to emit in timestamp order (ties in a fixed
// order) and returns the labels. Each event is new and emit may keep it;
// an error from emit stops the generation and is returned. Memory stays
// bounded by the number of entities, not of events.
func Generate(cfg Config, emit func(*event.Event) error) (Labels, error) {
	if err := cfg.Validate(); err != nil {
		return Labels{}, err
	}
	g := newGen(cfg)
	var m merge
	ids := 0
	push := func(src source) {
		s := newStream(ids, src)
		ids++
		if s.fill() {
			m.push(s)
		}
	}
	seed := cfg.Seed
	for i, u := range g.pop.users {
		push(newDaySource(g, u, rngFor(seed, seqUser, i)))
		push(newOffSource(g, u, rngFor(seed, seqOff, i)))
	}
	for i, h := range g.pop.hosts {
		push(newHostSource(g, h, rngFor(seed, seqHost, i)))
		if h.backup {
			push(newBackupSource(g, h, rngFor(seed, seqBackup, i)))
		}
	}
	for i, h := range g.pop.monitors {
		push(newMonitorSource(g, h, rngFor(seed, seqMonitor, i)))
	}
	for i, ip := range g.pop.noise {
		push(newNoiseSource(g, ip, rngFor(seed, seqNoise, i)))
	}
	attacks, err := g.schedule()
	if err != nil {
		return Labels{}, err
	}
	for _, src := range attacks {
		push(src)
	}
	for len(m) > 0 {
		s := m[0]
		r := s.q.pop()
		if r.t >= g.end {
			break // every other stream's next record is later still
		}
		if g.keep(&r) {
			if err := emit(g.event(&r)); err != nil {
				return g.labels(), fmt.Errorf("evalset: emit event %d: %w", g.n-1, err)
			}
		}
		if s.fill() {
			m.fix()
		} else {
			m.removeTop()
		}
	}
	return g.labels(), nil
}

// keep says whether r is emitted: not when it falls in a silence of its
// host (attacks excepted). It also labels, after the warm-up, the first
// successful login of a user from an address or a /24: the rarity profiles
// rightly flag it, whatever the cause.
func (g *gen) keep(r *rec) bool {
	if !r.attack {
		for _, sp := range g.silent[r.host] {
			if r.t >= sp.from && r.t < sp.to {
				return false
			}
		}
	}
	if r.kind != kindLogin || r.outcome != "success" {
		return true
	}
	kind := [...]string{causeNone: "rare_source", causeHome: "home_address", causeTravel: "travel"}
	for _, f := range [...]struct {
		profile string
		entity  func(user, ip string) string
	}{{ProfileNewUserSource, userSource}, {ProfileNewUserSubnet, userSubnet}} {
		e := f.entity(r.user, r.src)
		if g.seen[e] {
			continue
		}
		g.seen[e] = true
		if r.t >= g.evalStart && r.cause != causeLabelled {
			g.incidents = append(g.incidents, Label{Profile: f.profile, Tenant: g.cfg.Tenant, Entity: e,
				Start: at(r.t), End: at(r.t), Kind: kind[r.cause], Benign: true})
		}
	}
	return true
}

func (g *gen) labels() Labels {
	order := func(a, b Label) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Profile, b.Profile), cmp.Compare(a.Entity, b.Entity))
	}
	slices.SortStableFunc(g.incidents, order)
	slices.SortStableFunc(g.bursts, order)
	return Labels{
		Seed:      g.cfg.Seed,
		Tenant:    g.cfg.Tenant,
		Start:     at(g.start),
		EvalStart: at(g.evalStart),
		End:       at(g.end),
		Events:    g.n,
		Incidents: g.incidents,
		Bursts:    g.bursts,
	}
}

// event turns r into the n-th event: its raw line in the format of the
// log it would come from, and an id from the tenant, the seed and n (n
// alone makes it unique, so the line is not hashed).
func (g *gen) event(r *rec) *event.Event {
	ts := at(r.t)
	e := &event.Event{
		Version:   event.Version,
		Timestamp: ts,
		Ingested:  ts.Add(time.Second + time.Duration(g.n%4000)*time.Millisecond),
		Tenant:    g.cfg.Tenant,
		Host:      r.host,
		Outcome:   r.outcome,
		SrcIP:     r.src,
		SrcPort:   r.sport,
		DstIP:     r.dst,
		DstPort:   r.dport,
		User:      r.user,
		BytesOut:  r.out,
		BytesIn:   r.in,
		Value:     r.value,
	}
	b := g.buf[:0]
	switch r.kind {
	case kindLogin:
		e.Source, e.Category, e.Action, e.Protocol = "synthetic.sshd", event.CategoryAuthentication, "ssh_login", "ssh"
		b = ts.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
		b = append(b, r.host...)
		b = append(b, " sshd["...)
		b = strconv.AppendInt(b, 1000+int64(r.sport)%30000, 10)
		switch {
		case r.outcome == event.OutcomeSuccess:
			b = append(b, "]: Accepted publickey for "...)
		case r.invalid:
			b = append(b, "]: Failed password for invalid user "...)
		default:
			b = append(b, "]: Failed password for "...)
		}
		b = append(b, r.user...)
		b = append(b, " from "...)
		b = append(b, r.src...)
		b = append(b, " port "...)
		b = strconv.AppendUint(b, uint64(r.sport), 10)
		b = append(b, " ssh2"...)
	case kindFlow:
		e.Source, e.Category, e.Action, e.Protocol = "synthetic.flow", event.CategoryNetwork, "network_flow", protocols[r.dport]
		b = append(b, r.src...)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(r.sport), 10)
		b = append(b, " -> "...)
		b = append(b, r.dst...)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(r.dport), 10)
		b = append(b, " tcp "...)
		b = append(b, connState[r.outcome]...)
		b = append(b, " out="...)
		b = strconv.AppendUint(b, r.out, 10)
		b = append(b, " in="...)
		b = strconv.AppendUint(b, r.in, 10)
		if r.user != "" {
			b = append(b, " user="...)
			b = append(b, r.user...)
		}
	case kindQuery:
		e.Source, e.Category, e.Action, e.Protocol = "synthetic.postgresql", event.CategoryDatabase, "db_query", "postgresql"
		b = ts.AppendFormat(b, "2006-01-02 15:04:05.000 MST")
		b = append(b, " ["...)
		b = strconv.AppendInt(b, 2000+int64(r.sport)%30000, 10)
		b = append(b, "] "...)
		b = append(b, r.user...)
		b = append(b, "@appdb "...)
		if r.outcome == event.OutcomeSuccess {
			b = append(b, "LOG:  duration: "...)
			b = strconv.AppendFloat(b, r.value, 'f', 3, 64)
			b = append(b, " ms  statement: "...)
		} else {
			b = append(b, "ERROR:  permission denied for table orders  STATEMENT: "...)
		}
		b = append(b, r.detail...)
	case kindHTTP:
		e.Source, e.Category, e.Action, e.Protocol = "synthetic.nginx", event.CategoryWeb, "http_request", "http"
		e.Outcome = event.OutcomeSuccess
		if r.status >= 400 {
			e.Outcome = event.OutcomeFailure
		}
		method, agent := "GET", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
		if r.detail == "/login" || r.detail == "/api/v1/auth" {
			method = "POST"
		}
		if r.user == "" {
			agent = "python-requests/2.31.0"
		}
		status := strconv.Itoa(int(r.status))
		e.Attrs = map[string]string{"http.response.status_code": status, "http.request.method": method, "url.path": r.detail}
		b = append(b, r.src...)
		b = append(b, " - "...)
		b = append(b, cmp.Or(r.user, "-")...)
		b = append(b, " ["...)
		b = ts.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		b = append(b, "] \""...)
		b = append(b, method...)
		b = append(b, ' ')
		b = append(b, r.detail...)
		b = append(b, " HTTP/1.1\" "...)
		b = append(b, status...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, r.in, 10)
		b = append(b, " \"-\" \""...)
		b = append(b, agent...)
		b = append(b, '"')
	}
	e.Message = string(b)
	e.ID = event.NewID(g.cfg.Tenant, g.origin, g.n, nil)
	g.buf = b
	g.n++
	return e
}

// connState is the Zeek connection state of an outcome.
var connState = map[string]string{
	event.OutcomeSuccess: "SF",
	event.OutcomeFailure: "REJ",
	event.OutcomeUnknown: "S0",
}

// protocols names the application protocol of the ports the set uses.
var protocols = map[uint16]string{
	22: "ssh", 53: "dns", 80: "http", 123: "ntp", 443: "http", 445: "smb", 873: "rsync", 3128: "http",
	3306: "mysql", 3389: "rdp", 5432: "postgresql", 5985: "http", 8080: "http", 8443: "http", 9090: "http", 9100: "http",
}
