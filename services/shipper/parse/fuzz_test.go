package parse

import (
	"path/filepath"
	"testing"
)

// addFixtureSeeds seeds a fuzz test with every line of the fixtures.
func addFixtureSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.log"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		for _, l := range readFixture(f, file) {
			f.Add(l.line, l.truncated)
		}
	}
	// The Zeek TSV header, joined with a data line, so that one input can
	// both set a header and use it.
	f.Add([]byte("#separator \\x09"), false)
	f.Add([]byte("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tauth_success"), false)
	f.Add([]byte("1767344410.1\tCx\t192.0.2.1\t1\t192.0.2.2\t22\tF"), false)
}

// fuzzParser checks that p never panics and that whatever it returns is a
// valid event that encodes and decodes to the same thing.
func fuzzParser(f *testing.F, p Parser, total bool) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte, truncated bool) {
		in := Input{
			Tenant: "fuzz", Host: "fuzz-host", Origin: "fuzz", Offset: 7,
			Line: line, Truncated: truncated, Now: fixtureNow,
		}
		ev, ok := p.Parse(in)
		if total && !ok {
			t.Fatalf("%s returned false", p.Name())
		}
		if !ok {
			if ev != nil {
				t.Fatalf("%s returned an event with false", p.Name())
			}
			return
		}
		checkEvent(t, in, ev)
	})
}

// newParser returns New(format)'s parser, for the fuzz targets of the
// stateful formats.
func newParser(f *testing.F, format string, opts ...Option) Parser {
	p, err := New(format, opts...)
	if err != nil {
		f.Fatal(err)
	}
	return p
}

func FuzzSSHD(f *testing.F) { fuzzParser(f, SSHD{}, false) }

func FuzzSyslog(f *testing.F) { fuzzParser(f, Syslog{}, false) }

func FuzzWeb(f *testing.F) { fuzzParser(f, Web{}, false) }

func FuzzPostgres(f *testing.F) { fuzzParser(f, newParser(f, FormatPostgres), true) }

func FuzzMySQL(f *testing.F) { fuzzParser(f, newParser(f, FormatMySQL), true) }

// FuzzZeek feeds one parser every input under one origin, so header lines
// found by the fuzzer change how later data lines are read.
func FuzzZeek(f *testing.F) { fuzzParser(f, NewZeek(), false) }

func FuzzJSON(f *testing.F) { fuzzParser(f, JSON{}, false) }

// FuzzJSONFields is the JSON parser with a field mapping.
func FuzzJSONFields(f *testing.F) {
	fuzzParser(f, newParser(f, FormatJSON, WithFields(map[string]string{
		"timestamp": "time", "source.ip": "client.addr", "user.name": "actor.login",
		"vigil.value": "latency_ms", "event.outcome": "result",
	})), true)
}

func FuzzAuto(f *testing.F) { fuzzParser(f, newParser(f, FormatAuto), true) }
