package vigil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/store"
)

// BenchmarkEndToEnd pushes sshd lines through shipper → broker → processor
// and archiver → ClickHouse in this process and prints BENCH lines:
// events per second for a bulk file, then the latency from a line being
// written to its row being queryable, and from a burst of failed logins
// being written to its alert being on the alert topic. It runs on the
// default configuration (shipper.poll_interval 250ms, archiver.flush_interval
// 1s), which bounds the row latency from below.
func BenchmarkEndToEnd(b *testing.B) {
	const bulk = 200_000
	for range b.N {
		s := startStack(b, true)
		conn, err := store.Open(s.cfg.ClickHouse)
		require.NoError(b, err)
		defer conn.Close()
		ctx := context.Background()

		// Throughput: one file of bulk lines, timed until the last row is queryable.
		lines, _ := authLog(bulk, "", 3)
		tmp := filepath.Join(b.TempDir(), "bulk.log")
		appendLines(b, tmp, lines)
		start := time.Now()
		require.NoError(b, os.Rename(tmp, filepath.Join(s.inbox, "bulk.log")))
		require.Eventually(b, func() bool {
			return s.count(b, "SELECT count() FROM events") >= bulk
		}, 10*time.Minute, 50*time.Millisecond)
		elapsed := time.Since(start)
		fmt.Printf("BENCH name=e2e_throughput value=%.0f unit=events/s\n", float64(bulk)/elapsed.Seconds())

		// Row latency: single lines written one at a time.
		live := filepath.Join(s.inbox, "live.log")
		var rowLat []time.Duration
		for i := range 100 {
			marker := fmt.Sprintf("probe-%d", i)
			line := fmt.Sprintf("%s gw sshd[77]: Accepted publickey for %s from 192.0.2.9 port 4000 ssh2", time.Now().UTC().Format(time.Stamp), marker)
			t0 := time.Now()
			appendLines(b, live, []string{line})
			for {
				var n uint64
				require.NoError(b, conn.QueryRow(ctx, "SELECT count() FROM events WHERE user = ?", marker).Scan(&n))
				if n > 0 {
					break
				}
				require.Less(b, time.Since(t0), time.Minute, "row for %s never arrived", marker)
				time.Sleep(5 * time.Millisecond)
			}
			rowLat = append(rowLat, time.Since(t0))
		}
		p50, p99 := percentiles(rowLat)
		fmt.Printf("BENCH name=e2e_row_latency_p50 value=%.1f unit=ms\n", ms(p50))
		fmt.Printf("BENCH name=e2e_row_latency_p99 value=%.1f unit=ms\n", ms(p99))

		// Alert latency: a burst of failed logins from a new IP, eight
		// times what each background address fails per five minutes
		// (about 125); its alert fires as soon as the count so far is
		// anomalous against the population of the IP's partition.
		var alertLat []time.Duration
		for i := range 5 {
			ip := fmt.Sprintf("203.0.113.%d", 100+i)
			burst := make([]string, 1000)
			for j := range burst {
				burst[j] = fmt.Sprintf("%s gw sshd[88]: Failed password for root from %s port %d ssh2", time.Now().UTC().Format(time.Stamp), ip, 40000+j)
			}
			t0 := time.Now()
			appendLines(b, live, burst)
			for !hasAlert(b, s, ip) {
				if time.Since(t0) > 3*time.Minute {
					explainStack(b, s)
					b.Fatalf("no alert for %s within 3 minutes: %d events, %d scores", ip,
						s.count(b, "SELECT count() FROM events WHERE src_ip = '"+ip+"'"), s.count(b, "SELECT count() FROM scores WHERE entity = '"+ip+"'"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			alertLat = append(alertLat, time.Since(t0))
		}
		p50, p99 = percentiles(alertLat)
		fmt.Printf("BENCH name=e2e_alert_latency_p50 value=%.0f unit=ms\n", ms(p50))
		fmt.Printf("BENCH name=e2e_alert_latency_p99 value=%.0f unit=ms\n", ms(p99))
	}
}

func hasAlert(t testing.TB, s *stack, ip string) bool {
	for _, a := range alertsOnTopic(t, s.cfg) {
		if a.Entity == ip {
			return true
		}
	}
	return false
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return at(0.50), at(0.99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
