package shipper

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// Backfill ships plain and gzip files once, every line acknowledged; a
// second run gives the same ids.
func TestBackfillPlainAndGzip(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Shipper.Host = "h"
	cfg.Shipper.BatchLines = 7 // several batches per file
	dir := t.TempDir()

	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("Nov 24 10:00:%02d gw sshd[9]: Failed password for root from 192.0.2.%d port %d ssh2", i%60, i, 4000+i))
	}
	plain := filepath.Join(dir, "auth.log")
	require.NoError(t, os.WriteFile(plain, []byte(strings.Join(lines[:30], "\n")+"\n"), 0o600))
	gz := filepath.Join(dir, "auth.log.1.gz")
	f, err := os.Create(gz)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	// The last line has no newline, and one line is over max_line_bytes.
	long := strings.Repeat("x", cfg.Shipper.MaxLineBytes+10)
	_, err = zw.Write([]byte(strings.Join(lines[30:], "\r\n") + "\r\n" + long + "\nlast"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())

	var progress []int64
	st, err := Backfill(context.Background(), cfg, testkit.Logger(t), []string{plain, gz}, BackfillOptions{
		Format: "sshd", Progress: func(read, total int64) { progress = append(progress, read) },
	})
	require.NoError(t, err)
	require.Equal(t, BackfillStats{Files: 2, Lines: 52, ParseErrors: 2, Truncated: 1}, st)
	require.NotEmpty(t, progress)

	ids := func() []string {
		var out []string
		for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
			ev, err := event.Decode(m.Value)
			require.NoError(t, err)
			out = append(out, ev.ID)
		}
		sort.Strings(out)
		return out
	}
	first := ids()
	require.Len(t, first, 52)
	var originals []string
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
		ev, err := event.Decode(m.Value)
		require.NoError(t, err)
		originals = append(originals, ev.Message)
		if ev.Message == "last" {
			require.NotEmpty(t, ev.ParseError)
		}
	}
	for _, l := range lines {
		require.Contains(t, originals, l)
	}

	_, err = Backfill(context.Background(), cfg, testkit.Logger(t), []string{plain, gz}, BackfillOptions{Format: "sshd"})
	require.NoError(t, err)
	again := ids()
	require.Len(t, again, 104)
	for i := range first {
		require.Equal(t, first[i], again[2*i])
		require.Equal(t, first[i], again[2*i+1])
	}
}

func TestBackfillErrors(t *testing.T) {
	cfg := config.Default()
	_, err := Backfill(context.Background(), cfg, testkit.Logger(t), []string{filepath.Join(t.TempDir(), "missing")}, BackfillOptions{})
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = Backfill(context.Background(), cfg, testkit.Logger(t), []string{t.TempDir()}, BackfillOptions{})
	require.ErrorContains(t, err, "not a regular file")
	_, err = Backfill(context.Background(), cfg, testkit.Logger(t), []string{"x"}, BackfillOptions{Format: "nope"})
	require.ErrorContains(t, err, "--format")
}
