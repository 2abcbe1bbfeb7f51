package parse

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// benchLines is a mix of sshd lines in the proportions of a server under
// brute force.
var benchLines = [][]byte{
	[]byte("Dec 30 21:14:03 bastion sshd[4411]: Failed password for root from 203.0.113.45 port 52144 ssh2"),
	[]byte("Dec 30 21:14:07 bastion sshd[4411]: Failed password for invalid user oracle from 203.0.113.45 port 52190 ssh2"),
	[]byte("Dec 31 23:50:00 bastion sshd[7001]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.77  user=root"),
	[]byte("Dec 30 21:17:30 bastion sshd[4450]: Received disconnect from 203.0.113.45 port 52144:11: Bye Bye [preauth]"),
	[]byte("Dec 30 21:16:40 bastion sshd[4430]: Invalid user backup from 203.0.113.45 port 52230"),
	[]byte("Dec 31 23:50:03 bastion sshd[7003]: pam_unix(sshd:auth): check pass; user unknown"),
	[]byte("Dec 30 21:19:00 bastion sshd[4480]: reverse mapping checking getaddrinfo for host-59.example.net [203.0.113.59] failed - POSSIBLE BREAK-IN ATTEMPT!"),
	[]byte("Dec 30 21:18:10 bastion sshd[4470]: Connection closed by authenticating user root 203.0.113.54 port 41234 [preauth]"),
	[]byte("2026-01-02T09:58:00.123456+00:00 bastion sshd[123]: Accepted publickey for ops from 192.0.2.10 port 50124 ssh2: ED25519 SHA256:b3BzLWtleS1maW5nZXJwcmludA"),
	[]byte("Dec 30 21:17:00 bastion sshd[4440]: message repeated 3 times: [ Failed password for root from 203.0.113.45 port 52144 ssh2]"),
}

// benchmarkParser measures p on lines, one line per op, and prints the
// rate as a BENCH line named parse_<name>. Before timing, it feeds p the
// lines of prime (a Zeek header).
func benchmarkParser(b *testing.B, name string, p Parser, lines [][]byte, prime ...[]byte) {
	var total int
	for _, l := range lines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	in := Input{Tenant: "acme", Host: "shipper-host", Origin: "2049:1234:abcdef", Now: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	for _, l := range prime {
		in.Line = l
		p.Parse(in)
	}
	i := 0
	for b.Loop() {
		in.Line = lines[i%len(lines)]
		in.Offset = int64(i) * 100
		if ev, ok := p.Parse(in); !ok || ev.ParseError != "" {
			b.Fatalf("not parsed: %s", in.Line)
		}
		i++
	}
	reportRate(b, "parse_"+name)
}

// reportRate prints the benchmark's ops per second as lines per second.
func reportRate(b *testing.B, name string) {
	if b.N > 0 && b.Elapsed() > 0 {
		fmt.Printf("BENCH name=%s value=%.0f unit=lines/s\n", name, float64(b.N)/b.Elapsed().Seconds())
	}
}

// fixtureLines returns the lines of a testdata file that p parses without
// a ParseError (its header lines first when header is set), so that the
// benchmarks time what the format is for.
func fixtureLines(b *testing.B, p Parser, file string) (lines, header [][]byte) {
	b.Helper()
	in := Input{Tenant: "acme", Origin: "bench", Now: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	for _, l := range readFixture(b, filepath.Join("testdata", file)) {
		in.Line = l.line
		ev, _ := p.Parse(in)
		switch {
		case ev.ParseError != "":
		case ev.Action == ActionLogHeader:
			header = append(header, l.line)
		default:
			lines = append(lines, l.line)
		}
	}
	if len(lines) == 0 {
		b.Fatalf("no parsed lines in %s", file)
	}
	return lines, header
}

func mustNew(b *testing.B, format string) Parser {
	b.Helper()
	p, err := New(format)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSSHD measures the sshd parser on the mix above, one line per
// op.
func BenchmarkSSHD(b *testing.B) { benchmarkParser(b, "sshd", SSHD{}, benchLines) }

// BenchmarkAutoSSHD is the same lines through auto, as the shipper's
// default format reads them.
func BenchmarkAutoSSHD(b *testing.B) {
	benchmarkParser(b, "auto_sshd", mustNew(b, FormatAuto), benchLines)
}

// BenchmarkSSHDEncode is what the shipper does per sshd line: parse, then
// encode the event as JSON.
func BenchmarkSSHDEncode(b *testing.B) {
	p := mustNew(b, FormatAuto)
	in := Input{Tenant: "acme", Host: "shipper-host", Origin: "2049:1234:abcdef", Now: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in.Line = benchLines[i%len(benchLines)]
		in.Offset = int64(i) * 100
		ev, _ := p.Parse(in)
		if _, err := event.Encode(ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRate(b, "parse_encode_sshd")
}

// BenchmarkEncode is event.Encode alone on the sshd mix's events.
func BenchmarkEncode(b *testing.B) {
	in := Input{Tenant: "acme", Host: "shipper-host", Origin: "2049:1234:abcdef", Now: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	evs := make([]*event.Event, len(benchLines))
	for i, l := range benchLines {
		in.Line = l
		evs[i], _ = SSHD{}.Parse(in)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := event.Encode(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRate(b, "encode_sshd")
}

// The other formats, on the lines of their fixtures that they parse.
func BenchmarkFormats(b *testing.B) {
	for _, tc := range []struct{ name, format, file string }{
		{"syslog", FormatSyslog, "syslog/sudo.log"},
		{"nginx", FormatNginx, "nginx/access.log"},
		{"apache", FormatApache, "apache/access.log"},
		{"postgres", FormatPostgres, "postgres/default.log"},
		{"mysql", FormatMySQL, "mysql/general.log"},
		{"zeek_tsv", FormatZeek, "zeek/conn.log"},
		{"zeek_json", FormatZeek, "zeek/json.log"},
		{"json", FormatJSON, "json/objects.log"},
		{"auto_mixed", FormatAuto, "auto/formats.log"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			lines, header := fixtureLines(b, mustNew(b, tc.format), tc.file)
			benchmarkParser(b, tc.name, mustNew(b, tc.format), lines, header...)
		})
	}
}
