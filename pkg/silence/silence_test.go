package silence

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/labels"
)

var t0 = time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)

func matchers(t testing.TB, ss ...string) labels.Matchers {
	t.Helper()
	ms, err := labels.ParseMatchers(ss)
	require.NoError(t, err)
	return ms
}

func TestStateAndMutes(t *testing.T) {
	s := Silence{ID: "x", Matchers: matchers(t, "team=db"), StartsAt: t0, EndsAt: t0.Add(time.Hour), Reason: "r"}
	db := map[string]string{"team": "db"}
	tests := []struct {
		at    time.Time
		state State
		mutes bool
	}{
		{t0.Add(-time.Nanosecond), StatePending, false},
		{t0, StateActive, true},
		{t0.Add(59 * time.Minute), StateActive, true},
		{t0.Add(time.Hour), StateExpired, false},
		{t0.Add(48 * time.Hour), StateExpired, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.state, s.StateAt(tt.at), "at %s", tt.at)
		require.Equal(t, tt.mutes, s.Mutes(db, tt.at), "at %s", tt.at)
	}
	require.False(t, s.Mutes(map[string]string{"team": "web"}, t0), "labels that do not match")
}

func TestNewAndValidate(t *testing.T) {
	s, err := New(matchers(t, "team=db"), t0, t0.Add(2*time.Hour), "maintenance", "alice", t0)
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{32}$`, s.ID)
	require.Equal(t, 1, s.Version)
	require.Equal(t, "alice", s.CreatedBy)
	other, err := New(matchers(t, "team=db"), t0, t0.Add(time.Hour), "r", "", t0)
	require.NoError(t, err)
	require.NotEqual(t, s.ID, other.ID, "every silence gets its own id")

	tests := []struct {
		name string
		edit func(*Silence)
		want string
	}{
		{"no matchers", func(s *Silence) { s.Matchers = nil }, "no matchers"},
		{"ends before it starts", func(s *Silence) { s.EndsAt = s.StartsAt.Add(-time.Second) }, "before it starts"},
		{"no reason", func(s *Silence) { s.Reason = "  " }, "no reason"},
		{"no id", func(s *Silence) { s.ID = "" }, "no id"},
		{"no times", func(s *Silence) { s.StartsAt = time.Time{} }, "starts_at and ends_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := s
			tt.edit(&bad)
			err := bad.Validate()
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err = New(nil, t0, t0.Add(time.Hour), "r", "a", t0)
	require.ErrorContains(t, err, "no matchers")
}

func TestExpired(t *testing.T) {
	s := Silence{ID: "x", Matchers: matchers(t, "a=b"), StartsAt: t0, EndsAt: t0.Add(time.Hour), Reason: "r"}
	now := t0.Add(10 * time.Minute)
	e := s.expired(now)
	require.Equal(t, StateExpired, e.StateAt(now))
	require.Equal(t, t0, e.StartsAt)
	require.Equal(t, now, e.EndsAt)
	require.NoError(t, e.Validate())

	pending := s.expired(t0.Add(-time.Hour))
	require.Equal(t, pending.StartsAt, pending.EndsAt, "a pending silence expired never starts")
	require.NoError(t, pending.Validate())
}

func TestJSONRoundTrip(t *testing.T) {
	s, err := New(matchers(t, `team="db ops"`, "severity=~high|critical"), t0, t0.Add(time.Hour), "upgrade", "bob", t0)
	require.NoError(t, err)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.Contains(t, string(b), `"matchers":["team=\"db ops\"","severity=~high|critical"]`)
	var back Silence
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s.Matchers.String(), back.Matchers.String())
	back.Matchers, s.Matchers = nil, nil
	require.Equal(t, s, back)
}
