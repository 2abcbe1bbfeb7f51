package shipper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// A file is rotated while the shipper is down and the new one created
// empty (as logrotate's "create" does). The shipper restarts, sees the
// empty file, ships the lines written to it next, and is killed before its
// periodic checkpoint: a restart from the checkpoints it left on disk reads
// those lines again with the ids they were shipped with.
func TestRotatedWhileDownKeepsIDsAcrossCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	cfg := filesConfig(t, testkit.Broker(t), filepath.Join(dir, "state"), "sshd", path+"*")
	cfg.Shipper.CheckpointInterval = time.Hour // only the saves the guarantee needs

	// lines[user] holds the ids each line was shipped with.
	lines := func() map[string][]string {
		ids := map[string][]string{}
		for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
			ev, err := event.Decode(m.Value)
			require.NoError(t, err)
			ids[ev.User] = append(ids[ev.User], ev.ID)
		}
		return ids
	}
	shipped := func(first, n, copies int) bool {
		ids := lines()
		for i := first; i < first+n; i++ {
			if len(ids[fmt.Sprintf("u%d", i)]) < copies {
				return false
			}
		}
		return true
	}
	// A first run ships the old file and saves its checkpoint.
	appendLines(t, path, 0, 10)
	s := startShipper(t, cfg)
	require.Eventually(t, func() bool { return shipped(0, 10, 1) }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Shutdown(context.Background()))

	// Rotated while the shipper is down: the new file is empty.
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	s = startShipper(t, cfg)
	require.Eventually(t, func() bool { return s.sources[0].files() == 2 }, 30*time.Second, 5*time.Millisecond,
		"the shipper follows the empty new file")
	appendLines(t, path, 10, 100) // well past the 1 KiB fingerprint
	require.Eventually(t, func() bool { return shipped(10, 100, 1) }, 30*time.Second, 20*time.Millisecond)

	// kill -9 now: what survives is the state directory as it is. The
	// spool holds nothing (Kafka acknowledged everything), so the
	// checkpoints are all of it.
	crashed := cfg
	crashed.Shipper.StateDir = filepath.Join(dir, "state-at-kill")
	require.NoError(t, os.MkdirAll(crashed.Shipper.StateDir, 0o750))
	cps, err := os.ReadFile(filepath.Join(cfg.Shipper.StateDir, "checkpoints.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(crashed.Shipper.StateDir, "checkpoints.json"), cps, 0o600))
	require.NoError(t, s.Shutdown(context.Background()))

	// The restart from there reads the new file's lines again.
	s = startShipper(t, crashed)
	require.Eventually(t, func() bool { return shipped(10, 100, 2) }, 30*time.Second, 20*time.Millisecond,
		"the new file's lines are read again after the crash")
	require.NoError(t, s.Shutdown(context.Background()))
	for user, ids := range lines() {
		for _, id := range ids {
			require.Equal(t, ids[0], id, "line of %s shipped with different ids", user)
		}
	}
}

// appendLines appends n sshd lines numbered from first: line i names user
// u<i>.
func appendLines(t testing.TB, path string, first, n int) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	for i := first; i < first+n; i++ {
		_, err := fmt.Fprintf(f, "Nov 24 10:00:%02d gw sshd[%d]: Failed password for u%d from 192.0.2.%d port %d ssh2\n", i%60, 1000+i, i, i%250, 1024+i)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}
