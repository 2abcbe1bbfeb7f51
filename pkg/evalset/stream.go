package evalset

import (
	"math/rand/v2"
	"time"
)

const hourNs = int64(time.Hour)

// kind is the kind of event a record becomes.
type kind uint8

const (
	kindLogin kind = iota // authentication ssh_login
	kindFlow              // network network_flow
	kindQuery             // database db_query
	kindHTTP              // web http_request
)

// cause tags records whose first successful login from an address is
// benign but rightly flagged by the rarity profiles, or part of an attack
// already labelled.
type cause uint8

const (
	causeNone     cause = iota // an office NAT or a desk: a source used rarely
	causeHome                  // a remote user's home address (new after a change)
	causeTravel                // a hotel's address on a day away
	causeLabelled              // a login of a labelled new-source attack
)

// rec is one event before it is written out: compact, built by the streams.
type rec struct {
	t        int64 // event time, ns since the epoch
	kind     kind
	attack   bool  // injected by an attack (never silenced)
	cause    cause // see cause
	invalid  bool  // a login for an account that does not exist
	outcome  string
	user     string
	host     string
	src, dst string
	sport    uint16
	dport    uint16
	out, in  uint64
	status   uint16  // HTTP status
	detail   string  // SQL statement, URL path
	value    float64 // query duration, ms
}

// queue holds a stream's pending records in time order.
type queue struct {
	recs []rec
	head int
}

func (q *queue) empty() bool { return q.head == len(q.recs) }
func (q *queue) peek() *rec  { return &q.recs[q.head] }

// push inserts r after every record not later than it. Records mostly come
// in order, so this is an append.
func (q *queue) push(r rec) {
	q.recs = append(q.recs, r)
	i := len(q.recs) - 1
	for i > q.head && q.recs[i-1].t > r.t {
		q.recs[i] = q.recs[i-1]
		i--
	}
	q.recs[i] = r
}

func (q *queue) pop() rec {
	r := q.recs[q.head]
	q.head++
	if q.head == len(q.recs) {
		q.recs, q.head = q.recs[:0], 0
	}
	return r
}

// source is one entity's (or one attack's) activity: a sequence of anchor
// times, each expanding into one or more records no earlier than itself.
type source interface {
	// next returns the next anchor time, not before the previous one, or
	// false when the source has no more.
	next() (int64, bool)
	// expand pushes the records of the anchor at t.
	expand(t int64, q *queue)
}

// stream turns a source into records in time order.
type stream struct {
	src    source
	q      queue
	head   int64 // time of the head record, once fill returned true
	anchor int64
	more   bool
	id     int // tie-break for equal times: the merge is deterministic
}

func newStream(id int, src source) *stream {
	s := &stream{src: src, id: id}
	s.anchor, s.more = src.next()
	return s
}

// fill expands anchors until the head record is final, that is no later
// anchor can come before it; false when the stream is exhausted.
func (s *stream) fill() bool {
	for s.more && (s.q.empty() || s.anchor <= s.q.peek().t) {
		s.src.expand(s.anchor, &s.q)
		s.anchor, s.more = s.src.next()
	}
	if s.q.empty() {
		return false
	}
	s.head = s.q.peek().t
	return true
}

// merge is a min-heap of streams by head time, then id.
type merge []*stream

func (m merge) less(i, j int) bool {
	a, b := m[i].head, m[j].head
	return a < b || a == b && m[i].id < m[j].id
}

func (m *merge) push(s *stream) {
	*m = append(*m, s)
	h := *m
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// fix restores the heap after the top's head changed; removeTop drops it.
func (m merge) fix() {
	for i := 0; ; {
		l, r, s := 2*i+1, 2*i+2, i
		if l < len(m) && m.less(l, s) {
			s = l
		}
		if r < len(m) && m.less(r, s) {
			s = r
		}
		if s == i {
			return
		}
		m[i], m[s] = m[s], m[i]
		i = s
	}
}

func (m *merge) removeTop() {
	h := *m
	h[0] = h[len(h)-1]
	*m = h[:len(h)-1]
	m.fix()
}

// hourly gives a source's event rate (per hour) for an absolute hour (hours
// since the epoch). It is called once per hour, in order, so it may draw
// the hour's random over-dispersion.
type hourly interface {
	hourRate(hour int64) float64
}

// clock draws the anchors of a Poisson process whose rate is constant
// within each hour: exponential gaps at the hour's rate, restarted at the
// next hour's when a gap crosses the boundary (the process is memoryless).
type clock struct {
	t, hourEnd, end int64
	rate            float64
}

func newClock(start, end int64, src hourly) clock {
	h := start / hourNs
	return clock{t: start, hourEnd: (h + 1) * hourNs, end: end, rate: src.hourRate(h)}
}

func (c *clock) next(rng *rand.Rand, src hourly) (int64, bool) {
	for {
		if c.rate > 0 {
			gap := rng.ExpFloat64() / c.rate * float64(hourNs)
			if gap < float64(c.hourEnd-c.t) {
				c.t += int64(gap)
				return c.t, c.t < c.end
			}
		}
		if c.hourEnd >= c.end {
			return 0, false
		}
		c.t = c.hourEnd
		c.rate = src.hourRate(c.hourEnd / hourNs)
		c.hourEnd += hourNs
	}
}

// once is a source with a single anchor: an attack, expanded all at once.
type once struct {
	at    int64
	done  bool
	build func(q *queue)
}

func (o *once) next() (int64, bool) {
	if o.done {
		return 0, false
	}
	o.done = true
	return o.at, true
}

func (o *once) expand(_ int64, q *queue) { o.build(q) }
