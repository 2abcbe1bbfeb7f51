package vigil

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// The shipper is killed with SIGKILL 10 times while it ships a file of
// 1,000,000 lines that is rotated twice meanwhile (renamed away, a new file
// started in its place): afterwards every line is in Kafka, and a line in
// Kafka more than once always has the same event id.
func TestShipperKill9WhileRotating(t *testing.T) {
	if testing.Short() {
		t.Skip("ships 1,000,000 lines through processes")
	}
	const (
		total = 1_000_000
		chunk = 25_000
	)
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	require.NoError(t, os.MkdirAll(inbox, 0o750))
	brokerAddr := testkit.FreeAddr(t)
	cfgFile := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
telemetry: {listen: ""}
kafka: {brokers: [%s]}
broker: {listen: %s, data_dir: %s}
shipper:
  files:
    - paths: [%s/auth.log*]
      format: sshd
  state_dir: %s
  poll_interval: 50ms
`, brokerAddr, brokerAddr, filepath.Join(dir, "broker"), inbox, filepath.Join(dir, "shipper"))), 0o600))
	startProc(t, dir, "broker", "broker", "-c", cfgFile)
	shipper := startProc(t, dir, "shipper", "shipper", "-c", cfgFile)
	client := &kafka.Client{Addr: kafka.TCP(brokerAddr), Timeout: 10 * time.Second}

	path := filepath.Join(inbox, "auth.log")
	kills, rotations := 0, 0
	for i := 0; i < total; i += chunk {
		appendNumbered(t, path, i, chunk)
		n := i/chunk + 1
		switch n {
		case 13, 27: // rotate: auth.log.1 → auth.log.2, auth.log → auth.log.1
			if _, err := os.Stat(path + ".1"); err == nil {
				require.NoError(t, os.Rename(path+".1", path+".2"))
			}
			require.NoError(t, os.Rename(path, path+".1"))
			rotations++
		}
		if n%4 == 0 && kills < 10 {
			// Kill while lines are in flight: once the shipper has shipped
			// something of what was just written, not all of it.
			before := topicSize(client, "vigil.events")
			require.Eventually(t, func() bool { return topicSize(client, "vigil.events") > before }, time.Minute, 5*time.Millisecond)
			shipper.Kill9()
			shipper.Start()
			kills++
		}
	}
	require.Equal(t, 10, kills)
	require.Equal(t, 2, rotations)

	require.Eventually(t, func() bool { return topicSize(client, "vigil.events") >= total }, 5*time.Minute, 50*time.Millisecond,
		"logs:\n%s", tailLogs(dir))
	kcfg := config.Default().Kafka
	kcfg.Brokers = []string{brokerAddr}
	// Every line is there; copies share their id. The shipper may still be
	// reading the last lines: look again until none is missing.
	var missing, copies int
	var bad error
	require.Eventually(t, func() bool {
		ids := make([]string, total)
		missing, copies = 0, 0
		for _, m := range testkit.ReadAll(t, kcfg, kcfg.Topics.Events) {
			ev, err := event.Decode(m.Value)
			var n int
			if err == nil {
				_, err = fmt.Sscanf(ev.User, "u%d", &n)
			}
			switch {
			case err != nil || n < 0 || n >= total:
				bad = fmt.Errorf("not a line of the test: %s (%v)", m.Value, err)
				return true
			case ids[n] != "" && ids[n] != ev.ID:
				bad = fmt.Errorf("line %d shipped twice with different ids %s and %s", n, ids[n], ev.ID)
				return true
			case ids[n] != "":
				copies++
			}
			ids[n] = ev.ID
		}
		for _, id := range ids {
			if id == "" {
				missing++
			}
		}
		return missing == 0
	}, 2*time.Minute, time.Second, "lines missing")
	require.NoError(t, bad)
	require.Zero(t, missing)
	t.Logf("%d lines in Kafka after %d kills and %d rotations; %d copies from redelivery, each with its line's id", total, kills, rotations, copies)
}

// appendNumbered appends n sshd lines numbered from first: line i names
// user u<i>, so each line is told apart from every other.
func appendNumbered(t testing.TB, path string, first, n int) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	for i := first; i < first+n; i++ {
		fmt.Fprintf(w, "Nov 24 10:%02d:%02d gw sshd[%d]: Failed password for u%d from 10.%d.%d.%d port %d ssh2\n",
			(i/60)%60, i%60, 1000+i%5000, i, (i>>16)&255, (i>>8)&255, i&255, 1024+i%60000)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
}
