package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func opts(dir string) Options {
	return Options{
		Patterns:     []string{filepath.Join(dir, "*.log")},
		FromEnd:      false,
		MaxLineBytes: 32,
		PartialAfter: time.Second,
		CloseAfter:   time.Second,
	}
}

func write(t *testing.T, path string, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// poll returns the lines' text and commits them.
func poll(t *testing.T, tl *Tailer, now time.Time) []string {
	t.Helper()
	lines, err := tl.Poll(1000, now)
	require.NoError(t, err)
	var out []string
	for _, l := range lines {
		out = append(out, string(l.Data))
		tl.Commit(l.Origin, l.End)
	}
	return out
}

func TestLinesAndOffsets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "one\ntwo\r\nthree\npart")
	tl := New(opts(dir), nil)
	defer tl.Close()
	now := time.Now()
	lines, err := tl.Poll(10, now)
	require.NoError(t, err)
	require.Len(t, lines, 3)
	require.Equal(t, "two", string(lines[1].Data), "a trailing \\r is dropped")
	require.Equal(t, int64(4), lines[1].Offset)
	require.Equal(t, int64(9), lines[1].End)
	require.Equal(t, int64(15), lines[2].End)
	require.Empty(t, poll(t, tl, now), "a partial line waits for its newline")
	write(t, path, "ial\n")
	require.Equal(t, []string{"partial"}, poll(t, tl, now))
}

func TestMaxLinesPerPoll(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	write(t, filepath.Join(dir, "a.log"), b.String())
	tl := New(opts(dir), nil)
	defer tl.Close()
	var got []string
	for range 3 {
		lines, err := tl.Poll(10, time.Now())
		require.NoError(t, err)
		require.LessOrEqual(t, len(lines), 10)
		for _, l := range lines {
			got = append(got, string(l.Data))
		}
	}
	require.Len(t, got, 25)
	require.Equal(t, "line 24", got[24])
}

func TestResumeFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "a\nb\nc\n")
	tl := New(opts(dir), nil)
	lines, err := tl.Poll(10, time.Now())
	require.NoError(t, err)
	require.Len(t, lines, 3)
	tl.Commit(lines[1].Origin, lines[1].End) // only a and b were delivered
	cps := tl.Checkpoints()
	tl.Close()

	write(t, path, "d\n")
	tl = New(opts(dir), cps)
	defer tl.Close()
	require.Equal(t, []string{"c", "d"}, poll(t, tl, time.Now()), "resumes after the last committed line")
}

func TestCheckpointOfAnotherFileIsIgnored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "a\nb\n")
	tl := New(opts(dir), nil)
	poll(t, tl, time.Now())
	cps := tl.Checkpoints()
	tl.Close()
	cps[0].Fingerprint = strings.Repeat("0", 64) // as if the inode now held another file
	tl = New(opts(dir), cps)
	defer tl.Close()
	require.Equal(t, []string{"a", "b"}, poll(t, tl, time.Now()))
}

func TestFromEndSkipsExistingContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "old\n")
	o := opts(dir)
	o.FromEnd = true
	tl := New(o, nil)
	defer tl.Close()
	require.Empty(t, poll(t, tl, time.Now()))
	write(t, path, "new\n")
	write(t, filepath.Join(dir, "b.log"), "later file\n")
	require.ElementsMatch(t, []string{"new", "later file"}, poll(t, tl, time.Now()), "files that appear later are read from the start")
}

func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	o := opts(dir)
	o.Patterns = []string{filepath.Join(dir, "app.log")}
	path := filepath.Join(dir, "app.log")
	write(t, path, "1\n2\n")
	tl := New(o, nil)
	defer tl.Close()
	now := time.Now()
	require.Equal(t, []string{"1", "2"}, poll(t, tl, now))
	write(t, path, "3\n")
	require.NoError(t, os.Rename(path, path+".1"))
	write(t, path+".1", "4\n") // the writer still had the old file open
	write(t, path, "5\n")
	require.ElementsMatch(t, []string{"3", "4", "5"}, poll(t, tl, now))
	require.Equal(t, 2, tl.Files())
	// The rotated file is closed once drained, committed and idle.
	require.Empty(t, poll(t, tl, now.Add(2*time.Second)))
	require.Equal(t, 1, tl.Files())
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "first\nsecond\n")
	tl := New(opts(dir), nil)
	defer tl.Close()
	require.Equal(t, []string{"first", "second"}, poll(t, tl, time.Now()))
	require.NoError(t, os.Truncate(path, 0))
	write(t, path, "after\n")
	require.Equal(t, []string{"after"}, poll(t, tl, time.Now()))
	require.Equal(t, uint64(1), tl.Stats().Truncations)
}

func TestLongLinesAreTruncatedAndFlagged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	long := strings.Repeat("x", 100)
	write(t, path, long+"\nshort\n"+strings.Repeat("y", 40))
	tl := New(opts(dir), nil)
	defer tl.Close()
	now := time.Now()
	lines, err := tl.Poll(10, now)
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, strings.Repeat("x", 32), string(lines[0].Data))
	require.True(t, lines[0].Truncated)
	require.Equal(t, int64(101), lines[0].End, "the whole line is consumed")
	require.Equal(t, "short", string(lines[1].Data))
	require.False(t, lines[1].Truncated)
	// A long last line without a newline is handed out, truncated, once the file is idle.
	lines, err = tl.Poll(10, now.Add(2*time.Second))
	require.NoError(t, err)
	require.Len(t, lines, 1)
	require.True(t, lines[0].Truncated)
	require.Equal(t, strings.Repeat("y", 32), string(lines[0].Data))
}

func TestPartialLastLineAfterIdle(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.log"), "done\nno newline")
	tl := New(opts(dir), nil)
	defer tl.Close()
	now := time.Now()
	require.Equal(t, []string{"done"}, poll(t, tl, now))
	require.Equal(t, []string{"no newline"}, poll(t, tl, now.Add(2*time.Second)))
}

func TestStoreRoundTrip(t *testing.T) {
	s, err := NewStore(t.TempDir())
	require.NoError(t, err)
	cps, err := s.Load()
	require.NoError(t, err)
	require.Empty(t, cps)
	want := []Checkpoint{{Path: "/a", Dev: 1, Ino: 2, Fingerprint: "ff", FingerprintLen: 3, Offset: 42}}
	require.NoError(t, s.Save(want))
	got, err := s.Load()
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// A file truncated and written again past where it was read, between two
// polls, is read again from its start.
func TestTruncateAndRegrowBetweenPolls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "old-1\nold-2\n")
	tl := New(opts(dir), nil)
	defer tl.Close()
	require.Equal(t, []string{"old-1", "old-2"}, poll(t, tl, time.Now()))
	require.NoError(t, os.WriteFile(path, []byte("new-line-1\nnew-line-2\nnew-line-3\n"), 0o640))
	require.Equal(t, []string{"new-line-1", "new-line-2", "new-line-3"}, poll(t, tl, time.Now()))
}

// A file first seen empty is still told apart from another file that later
// takes its inode: the fingerprint grows with the file.
func TestFingerprintGrowsFromEmpty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "")
	tl := New(opts(dir), nil)
	require.Empty(t, poll(t, tl, time.Now()))
	write(t, path, "first content\n")
	require.Equal(t, []string{"first content"}, poll(t, tl, time.Now()))
	cps := tl.Checkpoints()
	tl.Close()
	require.Len(t, cps, 1)
	require.Equal(t, len("first content\n"), cps[0].FingerprintLen)

	// Same inode, other content: the checkpoint does not apply.
	require.NoError(t, os.WriteFile(path, []byte("A\nB\n"), 0o640))
	tl = New(opts(dir), cps)
	defer tl.Close()
	require.Equal(t, []string{"A", "B"}, poll(t, tl, time.Now()))
}

// Lines read again after a restart keep their origin, and so their event
// ids, even when the file was first seen short and its fingerprint grew.
func TestOriginSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	write(t, path, "short\n")
	tl := New(opts(dir), nil)
	first := poll(t, tl, time.Now()) // committed
	require.Equal(t, []string{"short"}, first)
	write(t, path, strings.Repeat("x", 2000)+"\nnext\n")
	lines, err := tl.Poll(10, time.Now()) // read, not committed
	require.NoError(t, err)
	require.Len(t, lines, 2)
	origin, offset := lines[1].Origin, lines[1].Offset
	cps := tl.Checkpoints()
	tl.Close()

	tl = New(opts(dir), cps)
	defer tl.Close()
	again, err := tl.Poll(10, time.Now())
	require.NoError(t, err)
	require.Len(t, again, 2)
	require.Equal(t, origin, again[1].Origin)
	require.Equal(t, offset, again[1].Offset)
}
