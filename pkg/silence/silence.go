package silence

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/labels"
)

// Silence mutes the alerts whose labels match all its matchers from
// StartsAt until EndsAt.
type Silence struct {
	// Version of the message format: 1.
	Version int `json:"vigil.version"`
	// ID is random, 32 hex digits; the key of the silence's messages.
	ID string `json:"id"`
	// Matchers all must match an alert's labels (alert.Alert.LabelSet).
	Matchers labels.Matchers `json:"matchers"`
	// StartsAt is when the silence begins.
	StartsAt time.Time `json:"starts_at"`
	// EndsAt is when it ends: the alerts it matches are notified again.
	EndsAt time.Time `json:"ends_at"`
	// Reason says why, for whoever wonders where the alerts went.
	Reason string `json:"reason"`
	// CreatedBy names who added it.
	CreatedBy string `json:"created_by"`
	// CreatedAt is when it was added.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when it was last written (added or expired).
	UpdatedAt time.Time `json:"updated_at"`
}

// State of a silence at some time.
type State string

// The states.
const (
	StatePending State = "pending"
	StateActive  State = "active"
	StateExpired State = "expired"
)

// StateAt says whether s has not begun, is in force, or is over at now.
func (s Silence) StateAt(now time.Time) State {
	switch {
	case now.Before(s.StartsAt):
		return StatePending
	case now.Before(s.EndsAt):
		return StateActive
	}
	return StateExpired
}

// Mutes reports whether s is active at now and matches labels.
func (s Silence) Mutes(labels map[string]string, now time.Time) bool {
	return s.StateAt(now) == StateActive && s.Matchers.Matches(labels)
}

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("invalid silence")

// Validate reports every reason s cannot be stored.
func (s Silence) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if s.ID == "" {
		bad("no id")
	}
	if len(s.Matchers) == 0 {
		bad("no matchers: a silence must say which alerts it mutes")
	}
	if s.StartsAt.IsZero() || s.EndsAt.IsZero() {
		bad("starts_at and ends_at must be set")
	} else if s.EndsAt.Before(s.StartsAt) {
		bad("ends at %s, before it starts at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339))
	}
	if strings.TrimSpace(s.Reason) == "" {
		bad("no reason: say why the alerts are muted")
	}
	return errors.Join(errs...)
}

// New returns a silence with a fresh id, created by author at now.
func New(matchers labels.Matchers, startsAt, endsAt time.Time, reason, author string, now time.Time) (Silence, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Silence{}, fmt.Errorf("silence id: %w", err)
	}
	s := Silence{
		Version: 1, ID: hex.EncodeToString(b[:]), Matchers: matchers,
		StartsAt: startsAt.UTC(), EndsAt: endsAt.UTC(), Reason: reason, CreatedBy: author,
		CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
	return s, s.Validate()
}

// expired returns s ended at now: a pending silence never starts, an
// active one stops.
func (s Silence) expired(now time.Time) Silence {
	now = now.UTC()
	if s.StartsAt.After(now) {
		s.StartsAt = now
	}
	s.EndsAt = now
	s.UpdatedAt = now
	return s
}
