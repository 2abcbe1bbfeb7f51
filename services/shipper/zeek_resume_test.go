package shipper

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// A Zeek TSV file read again from a checkpoint after a restart still knows
// its columns: the shipper shows the parser the file's header first.
func TestZeekResumesWithItsHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conn.log")
	cfg := filesConfig(t, testkit.Broker(t), filepath.Join(dir, "state"), "zeek", path)
	header := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n"
	record := func(n string) string {
		return "1732440000.000000\tC" + n + "\t192.0.2." + n + "\t40000\t198.51.100.1\t22\ttcp\tssh\t1.0\t100\t200\tSF\n"
	}
	require.NoError(t, os.WriteFile(path, []byte(header+record("1")), 0o600))

	run := func(want int) []*event.Event {
		s := startShipper(t, cfg)
		var evs []*event.Event
		require.Eventually(t, func() bool {
			evs = nil
			for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
				ev, err := event.Decode(m.Value)
				require.NoError(t, err)
				if ev.SrcIP != "" || ev.ParseError != "" {
					evs = append(evs, ev)
				}
			}
			return len(evs) >= want
		}, 30*time.Second, 20*time.Millisecond)
		require.NoError(t, s.Shutdown(context.Background()))
		return evs
	}
	require.Len(t, run(1), 1)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(record("2"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	evs := run(2)
	require.Len(t, evs, 2)
	ips := map[string]bool{}
	for _, ev := range evs {
		require.Empty(t, ev.ParseError)
		ips[ev.SrcIP] = true
	}
	require.Equal(t, map[string]bool{"192.0.2.1": true, "192.0.2.2": true}, ips, "the resumed record is parsed")
}
