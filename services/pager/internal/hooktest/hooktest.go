// Package hooktest is a loopback HTTP server standing in for a paging
// service in tests: it records every request and answers as told.
package hooktest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is a request the server received.
type Request struct {
	Method string
	Path   string // with the query
	Header http.Header
	Body   []byte
	At     time.Time
	// Status is what the server answered (HangUp: nothing).
	Status int
}

// Answer is the server's answer to one request.
type Answer struct {
	Status int
	Header map[string]string
	Body   string
}

// HangUp as an Answer's Status closes the connection without answering.
const HangUp = -1

// Responder answers the n-th request (counted from 0).
type Responder func(r Request, n int) Answer

// Script answers the n-th request with answers[n], and the last one after
// that.
func Script(answers ...Answer) Responder {
	return func(_ Request, n int) Answer { return answers[min(n, len(answers)-1)] }
}

// Server is a loopback HTTP server that records requests.
type Server struct {
	*httptest.Server
	respond Responder

	mu   sync.Mutex
	reqs []Request
}

// New starts a server that answers with respond (202 Accepted when nil),
// closed at the end of the test.
func New(t testing.TB, respond Responder) *Server {
	s := &Server{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, At: time.Now()}
	s.mu.Lock()
	n := len(s.reqs)
	s.mu.Unlock()
	ans := Answer{Status: http.StatusAccepted}
	if s.respond != nil {
		ans = s.respond(req, n)
	}
	req.Status = ans.Status
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if ans.Status == HangUp {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range ans.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(ans.Status)
	_, _ = io.WriteString(w, ans.Body)
}

// Requests returns the requests whose path starts with prefix, in the
// order they came.
func (s *Server) Requests(prefix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}
