package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func batch(tag string, n int) []Msg {
	msgs := make([]Msg, n)
	for i := range msgs {
		msgs[i] = Msg{Key: []byte(tag), Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	return msgs
}

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	o.Dir = dir
	s, err := Open(o)
	require.NoError(t, err)
	return s
}

func next(t *testing.T, s *Spool) Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := s.Next(ctx)
	require.NoError(t, err)
	return b
}

func values(b Batch) []string {
	var out []string
	for _, m := range b.Msgs {
		out = append(out, string(m.Value))
	}
	return out
}

func TestOrderAndCallbacks(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		durable bool
	}{
		{"memory", Options{}, false},
		{"durable", Options{}, true},
		{"overflow to disk", Options{MemoryBytes: 1, SegmentBytes: 64}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir(), tt.opts)
			defer s.Close()
			s.SetSpill(true) // as while Kafka is unreachable
			var acked []int
			for i := range 5 {
				require.NoError(t, s.Append(context.Background(), batch(fmt.Sprint(i), 3), func() { acked = append(acked, i) }, tt.durable))
			}
			var got []Batch
			for i := range 5 {
				b := next(t, s)
				require.Equal(t, []string{fmt.Sprint(i, "-0"), fmt.Sprint(i, "-1"), fmt.Sprint(i, "-2")}, values(b))
				got = append(got, b)
			}
			// Out of order: nothing runs until the first batch is in.
			require.NoError(t, s.Ack(got[2].Seq))
			require.NoError(t, s.Ack(got[1].Seq))
			require.Empty(t, acked)
			require.NoError(t, s.Ack(got[0].Seq))
			require.Equal(t, []int{0, 1, 2}, acked)
			require.NoError(t, s.Ack(got[4].Seq))
			require.NoError(t, s.Ack(got[3].Seq))
			require.Equal(t, []int{0, 1, 2, 3, 4}, acked)
			st := s.Stats()
			require.Zero(t, st.Batches)
			require.Zero(t, st.Bytes)
			require.Zero(t, st.MemoryBytes)
			require.Zero(t, st.DiskBytes, "delivered segments are removed")
			require.True(t, st.Oldest.IsZero())
			require.NoError(t, s.Wait(context.Background()))
		})
	}
}

func TestDiskBatchesSurviveACrash(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 100})
	for i := range 4 {
		require.NoError(t, s.Append(context.Background(), batch(fmt.Sprint(i), 2), nil, true))
	}
	require.NoError(t, s.Append(context.Background(), batch("mem", 2), nil, false))
	b0 := next(t, s)
	require.NoError(t, s.Ack(b0.Seq))
	b1 := next(t, s)
	// The process dies here: b1 was handed out but not acknowledged.
	_ = b1

	s2 := open(t, dir, Options{SegmentBytes: 100})
	defer s2.Close()
	require.Equal(t, 3, s2.Stats().Recovered)
	for i := 1; i < 4; i++ {
		b := next(t, s2)
		require.Equal(t, []string{fmt.Sprint(i, "-0"), fmt.Sprint(i, "-1")}, values(b))
		require.NoError(t, s2.Ack(b.Seq))
	}
	// New batches continue the sequence after the recovered ones.
	require.NoError(t, s2.Append(context.Background(), batch("new", 1), nil, true))
	b := next(t, s2)
	require.Greater(t, b.Seq, b1.Seq+2)
	require.NoError(t, s2.Ack(b.Seq))
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Empty(t, segs)
	s.Close()
}

func TestTornRecordIsCutOff(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	require.NoError(t, s.Append(context.Background(), batch("a", 2), nil, true))
	require.NoError(t, s.Append(context.Background(), batch("b", 2), nil, true))
	s.Close()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	fi, err := os.Stat(segs[0])
	require.NoError(t, err)
	require.NoError(t, os.Truncate(segs[0], fi.Size()-3))

	s2 := open(t, dir, Options{})
	defer s2.Close()
	st := s2.Stats()
	require.Equal(t, 1, st.Recovered)
	require.Positive(t, st.Torn)
	require.Equal(t, []string{"a-0", "a-1"}, values(next(t, s2)))
}

func TestFullBlocksAndTryAppendFails(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 20})
	defer s.Close()
	big := batch("x", 3) // 3 × (1+3) = 12 bytes
	require.NoError(t, s.TryAppend(big, nil, false), "an empty spool takes any batch")
	require.ErrorIs(t, s.TryAppend(big, nil, false), ErrFull)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Append(ctx, big, nil, false), context.DeadlineExceeded)

	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), big, nil, false) }()
	select {
	case err := <-done:
		t.Fatalf("Append returned %v while the spool was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	b := next(t, s)
	require.NoError(t, s.Ack(b.Seq))
	require.NoError(t, <-done)
}

// While Kafka is reachable, a batch that need not be durable waits for
// room in memory; once Kafka is unreachable, it goes to disk.
func TestMemoryFullWaitsUnlessSpilling(t *testing.T) {
	s := open(t, t.TempDir(), Options{MemoryBytes: 20})
	defer s.Close()
	big := batch("x", 3) // 12 bytes
	require.NoError(t, s.Append(context.Background(), big, nil, false))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Append(ctx, big, nil, false), context.DeadlineExceeded)
	require.NoError(t, s.Append(context.Background(), big, nil, true), "durable batches go to disk")
	require.NoError(t, s.TryAppend(big, nil, false), "TryAppend goes to disk rather than fail")

	done := make(chan error, 1)
	go func() { done <- s.Append(context.Background(), big, nil, false) }()
	s.SetSpill(true)
	require.NoError(t, <-done)
	st := s.Stats()
	require.Equal(t, 4, st.Batches)
	require.Equal(t, int64(12), st.MemoryBytes)
	require.Positive(t, st.DiskBytes)
}

func TestCloseWakesWaiters(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	errs := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errs <- err
	}()
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-errs, ErrClosed)
	require.ErrorIs(t, s.Append(context.Background(), batch("a", 1), nil, false), ErrClosed)
}

func TestBadMark(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ackFile), []byte("x"), 0o600))
	_, err := Open(Options{Dir: dir})
	require.Error(t, err)
	require.Contains(t, err.Error(), ackFile)
}

func FuzzFrame(f *testing.F) {
	f.Add(appendFrame(nil, 7, batch("k", 2)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, msgs, n, err := readFrame(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, errCorrupt) && !errors.Is(err, io.EOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		require.LessOrEqual(t, n, int64(len(b)))
		seq2, msgs2, _, err := readFrame(bytes.NewReader(appendFrame(nil, seq, msgs)))
		require.NoError(t, err)
		require.Equal(t, seq, seq2)
		require.Equal(t, len(msgs), len(msgs2))
	})
}

// A batch that cannot be read back stays next: it is never skipped.
func TestUnreadableBatchStaysNext(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	defer s.Close()
	require.NoError(t, s.Append(context.Background(), batch("a", 1), nil, true))
	require.NoError(t, s.Append(context.Background(), batch("b", 1), nil, false))
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	require.NoError(t, os.Remove(segs[0]))
	for range 2 {
		_, err := s.Next(context.Background())
		require.Error(t, err)
	}
	require.NoError(t, os.WriteFile(segs[0], data, 0o600))
	require.Equal(t, []string{"a-0"}, values(next(t, s)))
	require.Equal(t, []string{"b-0"}, values(next(t, s)))
}
