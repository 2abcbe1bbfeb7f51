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

func FuzzSSHD(f *testing.F) { fuzzParser(f, SSHD{}, false) }

func FuzzJSON(f *testing.F) { fuzzParser(f, JSON{}, false) }

func FuzzAuto(f *testing.F) { fuzzParser(f, Auto{}, true) }
