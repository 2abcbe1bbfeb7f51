package parse

import (
	"testing"
	"time"
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

func benchmarkParser(b *testing.B, p Parser) {
	var total int
	for _, l := range benchLines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(benchLines)))
	b.ReportAllocs()
	in := Input{Tenant: "acme", Host: "shipper-host", Origin: "2049:1234:abcdef", Now: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	i := 0
	for b.Loop() {
		in.Line = benchLines[i%len(benchLines)]
		in.Offset = int64(i) * 100
		if _, ok := p.Parse(in); !ok {
			b.Fatalf("not parsed: %s", in.Line)
		}
		i++
	}
}

// BenchmarkSSHD measures the sshd parser on the mix above, one line per
// op.
func BenchmarkSSHD(b *testing.B) { benchmarkParser(b, SSHD{}) }

// BenchmarkAutoSSHD is the same lines through auto, as the shipper's
// default format reads them.
func BenchmarkAutoSSHD(b *testing.B) { benchmarkParser(b, Auto{}) }
