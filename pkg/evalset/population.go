package evalset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// role is what a host does; it decides its service port, who talks to it
// and how seasonal its traffic is.
type role uint8

const (
	roleApp role = iota
	roleBastion
	roleWeb
	roleDB
	roleProxy
	roleMonitor
	roleBackup
)

var roleNames = [...]string{"app", "bastion", "web", "db", "proxy", "mon", "backup"}
var rolePorts = [...]uint16{8080, 22, 443, 5432, 3128, 9090, 873}

// host is one server. Its own flows are outbound: source.ip is its address
// and host.name its name.
type host struct {
	name   string
	ip     string
	role   role
	public bool // reachable from the internet: bastions and some web servers
	// rate is outbound flows an hour at the seasonal peak; amp is how much of
	// it follows business hours (0 flat, 1 business hours only).
	rate, amp float64
	// bytesMedian is the median source.bytes of one outbound flow.
	bytesMedian float64
	peers       []peer
	backup      bool // sends the weekly backup
}

// peer is a destination a host talks to.
type peer struct {
	ip   string
	port uint16
}

// bytesSigma is the log-normal spread of one flow's bytes.
const bytesSigma = 1.0

// meanBytes is the mean of a log-normal with the given median and bytesSigma.
func meanBytes(median float64) float64 { return median * math.Exp(bytesSigma*bytesSigma/2) }

// season is the host's rate factor at hour-of-week w.
func (h *host) season(w int) float64 { return (1 - h.amp) + h.amp*business(w) }

// business is the share of peak business traffic at hour-of-week w.
func business(w int) float64 {
	d, hd := w/24, w%24
	if d == 0 || d == 6 {
		if hd >= 10 && hd < 17 {
			return 0.25
		}
		return 0.08
	}
	switch {
	case hd >= 8 && hd < 18:
		return 1
	case hd == 7 || hd == 18 || hd == 19:
		return 0.5
	}
	return 0.1
}

// how is the hour of the week (0 = Sunday 00:00 UTC) of absolute hour h
// (hours since the Unix epoch, a Thursday).
func how(h int64) int {
	return int(((h/24+4)%7)*24 + h%24)
}

// user is one account with its habits.
type user struct {
	name string
	// ws and we bound the working hours [ws, we) on weekdays.
	ws, we int
	// weekend is the share of a weekday's activity on weekend days 10–17
	// (zero for most).
	weekend float64
	// onCall users also log in at night, regularly.
	onCall bool
	remote bool
	// Rates an hour at the peak of the working day.
	loginRate, dbRate, proxyRate, webRate float64
	// offRate is off-hours logins a week: evenings after work, some on
	// weekend days; never at night unless on call.
	offRate float64
	// bytesMedian is the median bytes out of one proxied request.
	bytesMedian float64
	// office is the site's NAT gateway (office users) or the VPN gateway
	// (remote users); desk is a workstation or jump box ("" if none).
	office, desk string
	// homes is a remote user's home address by day (index: day of the
	// period); travel, the address of a day away ("" at home).
	homes  []string
	travel []string
	// hosts are the servers the user logs in to; hosts[0] most often.
	hosts          []*host
	db, proxy, web *host
	// sites are the external addresses the user's browsing goes to.
	sites []string
}

// season is the user's activity factor at hour-of-week w.
func (u *user) season(w int) float64 {
	d, hd := w/24, w%24
	if d == 0 || d == 6 {
		if u.weekend > 0 && hd >= 10 && hd < 17 {
			return u.weekend
		}
		return 0
	}
	if hd < u.ws || hd >= u.we {
		return 0
	}
	switch hd {
	case u.ws, u.we - 1:
		return 0.6
	case u.ws + 4:
		return 0.7
	}
	return 1
}

// idleFloor is the share of peak activity (queries, proxy and web traffic,
// not logins) a user's machines keep outside working hours: mail clients,
// sync, scheduled reports.
const idleFloor = 0.02

// offSeason is the user's rate of off-hours logins an hour at hour-of-week w.
func (u *user) offSeason(w int) float64 {
	d, hd := w/24, w%24
	r := 0.0
	if d >= 1 && d <= 5 && hd >= u.we && hd < u.we+4 {
		r += 0.85 * u.offRate / 20 // 5 evenings of 4 hours
	}
	if (d == 0 || d == 6) && hd >= 10 && hd < 18 {
		r += 0.15 * u.offRate / 16
	}
	if u.onCall && (hd < 7 || hd >= 20) {
		r += 0.08
	}
	return r
}

// population holds every entity and address.
type population struct {
	start    int64
	days     int
	users    []*user
	hosts    []*host
	byIP     map[string]*host
	bastions []*host // public bastions: brute force and background ssh
	public   []*host // every public host
	pubWeb   []*host
	monitors []*host
	backups  *host     // the backup server
	nats     []string  // NAT gateways; nats[0] is the VPN
	desks    []string  // workstations and jump boxes
	noise    []string  // internet background sources
	sites    []string  // external destinations of browsing and services
	ext      allocator // external addresses handed out so far
}

// Internal address plan: servers in 10.0.0.0/22 (dense from 10.0.0.1, so a
// sweep of the range meets servers and empty addresses), clients in
// 10.20.0.0/16, external addresses in 198.18.0.0/15 (RFC 2544), and the
// destinations of browsing in 203.0.113.0/24 and 192.0.2.0/24 (RFC 5737).
func serverIP(i int) string   { return fmt.Sprintf("10.0.%d.%d", i/250, i%250+1) }
func clientIP(i int) string   { return fmt.Sprintf("10.20.%d.%d", i/250, i%250+1) }
func serverAddr(i int) int    { return (i/250)<<8 | (i%250 + 1) }
func addrString(a int) string { return fmt.Sprintf("10.0.%d.%d", a>>8, a&0xff) }

// allocator hands out external addresses in 198.18.0.0/15, never twice.
type allocator struct {
	used map[uint32]bool
}

const extBase = 198<<24 | 18<<16

func (a *allocator) take(ip uint32) string {
	a.used[ip] = true
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}).String()
}

// fresh returns a never-used address outside the given /24s (as
// 198.18.0.0/15 offsets >> 8).
func (a *allocator) fresh(rng *rand.Rand, avoid ...uint32) string {
	for {
		ip := uint32(extBase) | rng.Uint32N(1<<17)&^0xff | (1 + rng.Uint32N(254))
		if !a.used[ip] && !slices.Contains(avoid, ip>>8) {
			return a.take(ip)
		}
	}
}

// freshIn returns a never-used address in the /24 of net (>> 8).
func (a *allocator) freshIn(rng *rand.Rand, net uint32) (string, bool) {
	for range 64 {
		ip := net<<8 | (1 + rng.Uint32N(254))
		if !a.used[ip] {
			return a.take(ip), true
		}
	}
	return "", false
}

// ip24 is an IPv4 address's /24 as a number (the address >> 8).
func ip24(s string) uint32 {
	a := netip.MustParseAddr(s).As4()
	return uint32(a[0])<<16 | uint32(a[1])<<8 | uint32(a[2])
}

// ip24OK is ip24, or 0 for "" (no address).
func ip24OK(s string) uint32 {
	if s == "" {
		return 0
	}
	return ip24(s)
}

// lognormal draws a log-normal value with the given median and spread.
func lognormal(rng *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*rng.NormFloat64())
}

// noise is a log-normal factor with mean 1: the over-dispersion of an hour.
func noise(rng *rand.Rand, sigma float64) float64 {
	return math.Exp(sigma*rng.NormFloat64() - sigma*sigma/2)
}

// logUniform draws from [lo, hi] uniformly on a log scale.
func logUniform(rng *rand.Rand, lo, hi float64) float64 {
	return lo * math.Pow(hi/lo, rng.Float64())
}

// uniform draws from [lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// Benign habits, per user and week unless said otherwise.
const (
	travelPerWeek  = 0.015 // days away, logging in from a hotel's address
	newHomePerWeek = 0.03  // a remote user's home address changes within its /24
	onCallShare    = 0.04
	weekendShare   = 0.12
	remoteShare    = 0.3
)

func newPopulation(cfg Config) *population {
	rng := rand.New(rand.NewPCG(cfg.Seed, streamPopulation))
	p := &population{
		start: cfg.Start.UnixNano(),
		days:  int((cfg.Duration + 24*time.Hour - 1) / (24 * time.Hour)),
		byIP:  map[string]*host{},
		ext:   allocator{used: map[uint32]bool{}},
	}
	p.newHosts(rng, cfg.Hosts)
	p.newAddresses(rng, cfg)
	p.newUsers(rng, cfg.Users)
	return p
}

func (p *population) newHosts(rng *rand.Rand, n int) {
	counts := []struct {
		role role
		n    int
	}{
		{roleBastion, max(2, n/50)},
		{roleWeb, max(2, n/12)},
		{roleDB, max(2, n/16)},
		{roleProxy, max(1, n/125)},
		{roleMonitor, max(1, n/166)},
		{roleBackup, 1},
	}
	var roles []role
	for _, c := range counts {
		for range c.n {
			roles = append(roles, c.role)
		}
	}
	for len(roles) < n {
		roles = append(roles, roleApp)
	}
	seq := map[role]int{}
	for i, r := range roles[:n] {
		seq[r]++
		h := &host{
			name:        fmt.Sprintf("%s-%02d", roleNames[r], seq[r]),
			ip:          serverIP(i),
			role:        r,
			rate:        min(200, lognormal(rng, 3, 1.0)),
			bytesMedian: lognormal(rng, 15e3, 1.0),
		}
		switch r {
		case roleApp, roleWeb, roleDB:
			h.amp = uniform(rng, 0.4, 0.9)
		default:
			h.amp = uniform(rng, 0, 0.3)
		}
		h.public = r == roleBastion || r == roleWeb && seq[r]%4 == 1
		p.hosts = append(p.hosts, h)
		p.byIP[h.ip] = h
		if h.public {
			p.public = append(p.public, h)
			if r == roleBastion {
				p.bastions = append(p.bastions, h)
			} else {
				p.pubWeb = append(p.pubWeb, h)
			}
		}
		switch r {
		case roleMonitor:
			p.monitors = append(p.monitors, h)
		case roleBackup:
			p.backups = h
		}
	}
	for range max(1, n/100) {
		for {
			h := pick(rng, p.hosts)
			if (h.role == roleApp || h.role == roleDB) && !h.backup {
				h.backup = true
				break
			}
		}
	}
	for i := range 500 {
		if i < 254 {
			p.sites = append(p.sites, fmt.Sprintf("203.0.113.%d", i+1))
		} else if i < 508 {
			p.sites = append(p.sites, fmt.Sprintf("192.0.2.%d", i-253))
		}
	}
	for _, h := range p.hosts {
		for range 3 + rng.IntN(13) {
			if rng.Float64() < 0.2 {
				h.peers = append(h.peers, peer{pick(rng, p.sites), pick(rng, []uint16{443, 443, 80, 123, 53})})
				continue
			}
			d := pick(rng, p.hosts)
			if d != h {
				h.peers = append(h.peers, peer{d.ip, rolePorts[d.role]})
			}
		}
		if len(h.peers) == 0 {
			h.peers = append(h.peers, peer{pick(rng, p.sites), 443})
		}
	}
}

func (p *population) newAddresses(rng *rand.Rand, cfg Config) {
	nNAT := max(2, cfg.InternalClients/10)
	for i := range cfg.InternalClients {
		if i < nNAT {
			p.nats = append(p.nats, clientIP(i))
		} else {
			p.desks = append(p.desks, clientIP(i))
		}
	}
	for range cfg.ExternalIPs - cfg.ExternalIPs/3 {
		p.noise = append(p.noise, p.ext.fresh(rng))
	}
}

// Names are first.last from these, unique; a number is appended once the
// combinations run out.
var (
	firstNames = []string{"adam", "alice", "amir", "ana", "anna", "ben", "carla", "chen", "chris", "dana", "david", "elena",
		"emma", "eric", "fatima", "felix", "grace", "hana", "hugo", "ines", "ivan", "jack", "james", "jan", "julia", "karim",
		"kate", "lars", "laura", "leo", "lin", "lucas", "maria", "mark", "marta", "mei", "mia", "nadia", "nina", "noah",
		"olga", "omar", "oscar", "paul", "petra", "priya", "rafael", "rosa", "ruth", "sam", "sara", "sofia", "tom", "uma",
		"victor", "wei", "yara", "yusuf", "zoe", "zora"}
	lastNames = []string{"adams", "ahmed", "baker", "berg", "brown", "chen", "costa", "cruz", "davis", "diaz", "dubois",
		"evans", "fischer", "garcia", "gomez", "gupta", "hall", "hansen", "ito", "jensen", "jones", "kim", "klein", "kumar",
		"lee", "lopez", "martin", "meyer", "moreau", "muller", "nagy", "novak", "nguyen", "olsen", "park", "patel", "perez",
		"petrov", "rossi", "ruiz", "sato", "schmidt", "silva", "singh", "smith", "sousa", "tanaka", "taylor", "torres",
		"wagner", "walker", "wang", "weber", "white", "wilson", "wong", "yilmaz", "young", "zhang", "ziegler"}
)

func (p *population) newUsers(rng *rand.Rand, n int) {
	seen := map[string]bool{}
	homeNets := make([]uint32, 0, 64)
	for range max(8, n/20) { // ISP blocks: neighbours share a /24
		homeNets = append(homeNets, ip24(p.ext.fresh(rng)))
	}
	// Offices differ in size: a few big sites, many small.
	siteW := make([]float64, len(p.nats)-1)
	for i := range siteW {
		siteW[i] = lognormal(rng, 1, 1)
	}
	for i := 0; len(p.users) < n; i++ {
		name := pick(rng, firstNames) + "." + pick(rng, lastNames)
		if seen[name] {
			if i < 20*n {
				continue
			}
			name = fmt.Sprintf("%s%d", name, i)
		}
		seen[name] = true
		u := &user{name: name}
		u.ws = int(math.Round(min(11, max(6, 8.5+1.2*rng.NormFloat64()))))
		u.we = u.ws + 7 + rng.IntN(4)
		if rng.Float64() < weekendShare {
			u.weekend = uniform(rng, 0.2, 0.6)
		}
		u.onCall = rng.Float64() < onCallShare
		u.remote = rng.Float64() < remoteShare
		u.loginRate = min(8, lognormal(rng, 0.6, 0.7))
		u.offRate = min(20, lognormal(rng, 0.2, 1.0))
		if rng.Float64() < 0.4 {
			u.dbRate = min(400, lognormal(rng, 4, 1.2))
		}
		if rng.Float64() < 0.6 {
			u.proxyRate = min(100, lognormal(rng, 2, 0.8))
		}
		if rng.Float64() < 0.5 {
			u.webRate = min(200, lognormal(rng, 2, 1.0))
		}
		u.bytesMedian = lognormal(rng, 40e3, 0.7)
		if u.remote {
			u.office = p.nats[0]
			u.homes = make([]string, p.days)
			addr, ok := p.ext.freshIn(rng, pick(rng, homeNets))
			if !ok {
				addr = p.ext.fresh(rng)
			}
			for d := range p.days {
				if d > 0 && rng.Float64() < newHomePerWeek/7 {
					if a, ok := p.ext.freshIn(rng, ip24(addr)); ok {
						addr = a
					}
				}
				u.homes[d] = addr
			}
		} else {
			u.office = p.nats[1+weighted(rng, siteW)]
			if rng.Float64() < 0.5 {
				u.desk = pick(rng, p.desks)
			}
		}
		u.travel = make([]string, p.days)
		for d := range p.days {
			if rng.Float64() < travelPerWeek/7 {
				u.travel[d] = p.ext.fresh(rng, u.knownNets()...)
			}
		}
		u.hosts = append(u.hosts, pick(rng, p.bastions))
		for range rng.IntN(4) {
			h := pick(rng, p.hosts)
			if h.role == roleApp || h.role == roleDB || h.role == roleWeb {
				u.hosts = append(u.hosts, h)
			}
		}
		u.db = p.pickRole(rng, roleDB)
		u.proxy = p.pickRole(rng, roleProxy)
		u.web = p.pickRole(rng, roleWeb)
		for range 5 + rng.IntN(30) {
			u.sites = append(u.sites, pick(rng, p.sites))
		}
		p.users = append(p.users, u)
	}
}

// knownNets are the /24s of a user's external addresses (home and travel,
// over the whole period).
func (u *user) knownNets() []uint32 {
	var nets []uint32
	for _, list := range [][]string{u.homes, u.travel} {
		for _, a := range list {
			if n := ip24OK(a); n != 0 && !slices.Contains(nets, n) {
				nets = append(nets, n)
			}
		}
	}
	return nets
}

func (p *population) pickRole(rng *rand.Rand, r role) *host {
	for {
		if h := pick(rng, p.hosts); h.role == r {
			return h
		}
	}
}

// weighted picks an index with probability proportional to w.
func weighted(rng *rand.Rand, w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	r := rng.Float64() * total
	for i, x := range w {
		if r < x {
			return i
		}
		r -= x
	}
	return len(w) - 1
}

// day is the index of the period's day that t (ns) falls in.
func (p *population) day(t int64) int {
	return min(p.days-1, max(0, int((t-p.start)/int64(24*time.Hour))))
}

// source is the address a user's activity at t comes from, and why: the
// hotel on a day away (mostly), else home or the VPN for remote users, the
// site's NAT or the desk for office users.
func (p *population) source(rng *rand.Rand, u *user, t int64) (string, cause) {
	d := p.day(t)
	if a := u.travel[d]; a != "" && rng.Float64() < 0.8 {
		return a, causeTravel
	}
	x := rng.Float64()
	switch {
	case u.remote && x < 0.6:
		return u.homes[d], causeHome
	case !u.remote && u.desk != "" && x < 0.25:
		return u.desk, causeNone
	}
	return u.office, causeNone
}
