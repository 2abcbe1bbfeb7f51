package tail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Checkpoint records how far a file has been committed.
type Checkpoint struct {
	// Path the file was last seen at (informational).
	Path string `json:"path"`
	// Dev and Ino identify the file on its filesystem.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Fingerprint is the hex SHA-256 of the file's first FingerprintLen
	// bytes; it tells a reused inode from the file the checkpoint was for.
	Fingerprint    string `json:"fingerprint"`
	FingerprintLen int    `json:"fingerprint_len"`
	// Offset is the byte after the last committed line.
	Offset int64 `json:"offset"`
	// Origin is the file's identity in event ids; it stays what it was
	// when the file was first seen, so a line read again keeps its id.
	Origin string `json:"origin"`
}

// Store keeps checkpoints in one JSON file, replaced atomically on Save.
type Store struct {
	path string
}

// NewStore returns a store in dir, creating dir if needed.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	return &Store{path: filepath.Join(dir, "checkpoints.json")}, nil
}

// Exists reports whether checkpoints were ever saved here.
func (s *Store) Exists() bool {
	_, err := os.Stat(s.path)
	return err == nil
}

// Load returns the saved checkpoints; none when nothing was saved yet.
func (s *Store) Load() ([]Checkpoint, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	var cps []Checkpoint
	if err := json.Unmarshal(b, &cps); err != nil {
		return nil, fmt.Errorf("read checkpoints %s: %w", s.path, err)
	}
	return cps, nil
}

// Save replaces the saved checkpoints with cps: it writes a temporary file,
// syncs it, renames it over the old one and syncs the directory, so a crash
// leaves either the old or the new set, never a torn one.
func (s *Store) Save(cps []Checkpoint) error {
	sort.Slice(cps, func(i, j int) bool { return cps[i].Path < cps[j].Path })
	b, err := json.MarshalIndent(cps, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoints: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync checkpoints: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("replace checkpoints: %w", err)
	}
	d, err := os.Open(filepath.Dir(s.path))
	if err != nil {
		return fmt.Errorf("sync checkpoint dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint dir: %w", err)
	}
	return nil
}
