package parse

import "sync"

// maxSessions bounds the sessions a database parser remembers; past it,
// the memory starts afresh (the lines of the sessions forgotten lose only
// their client address).
const maxSessions = 8192

// sessionKey names a database session: the origin (file) and the process
// or thread id that writes its lines.
type sessionKey struct {
	origin string
	id     string
}

// client is what a connection line told about a session.
type client struct {
	ip   string
	port uint16
	user string
}

// sessions remembers the client of each open database session, so that the
// lines after "connection received" (PostgreSQL) or "Connect" (MySQL) that
// name only a process or thread id get its address. It is safe for
// concurrent use and bounded by maxSessions.
type sessions struct {
	mu sync.Mutex
	m  map[sessionKey]client
}

func (s *sessions) get(origin, id string) (client, bool) {
	if s == nil || id == "" {
		return client{}, false
	}
	s.mu.Lock()
	c, ok := s.m[sessionKey{origin, id}]
	s.mu.Unlock()
	return c, ok
}

func (s *sessions) put(origin, id string, c client) {
	if s == nil || id == "" {
		return
	}
	s.mu.Lock()
	if s.m == nil || len(s.m) >= maxSessions {
		s.m = make(map[sessionKey]client, 64)
	}
	s.m[sessionKey{origin, id}] = c
	s.mu.Unlock()
}

func (s *sessions) drop(origin, id string) {
	if s == nil || id == "" {
		return
	}
	s.mu.Lock()
	delete(s.m, sessionKey{origin, id})
	s.mu.Unlock()
}
