package fetchedtree

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Records are the host's record of the archives its fetches saved: one
// small file per key holding the sum, in the user's cache directory, per
// cache volume (the volume's name says the manager and the engine's ID
// mapping). Client names this host's archives in the volume: clients of
// one remote engine keep theirs apart instead of taking each other's for
// tampering.
type Records struct{ dir, clientFile, Client string }

// maxRecords bounds the directory; a record without its archive (evicted
// in the volume) only costs a fetch.
const maxRecords = 64

var (
	hexKey    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexSum    = regexp.MustCompile(`^[0-9a-f]{128}$`)
	hexClient = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// Open finds the records of one cache volume below base (os.UserCacheDir
// when ""), made on first use.
func Open(base, volume string) (Records, error) {
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return Records{}, fmt.Errorf("finding the cache directory for the fetched-tree records: %w", err)
		}
	}
	if volume == "" || strings.ContainsAny(volume, `/\`) || volume[0] == '.' {
		return Records{}, fmt.Errorf("fetched-tree records: %q is no volume name", volume)
	}
	top := filepath.Join(base, "safe-install", "fetched-trees")
	r := Records{dir: filepath.Join(top, volume), clientFile: filepath.Join(top, "client")}
	if data, err := os.ReadFile(r.clientFile); err == nil && len(data) <= 64 {
		if id := strings.TrimSpace(string(data)); hexClient.MatchString(id) {
			r.Client = id
		}
	}
	return r, nil
}

// ensure makes the records' directory and this client's name, on the
// first record: until a run succeeds, nothing of the cache is on the host.
func (r *Records) ensure() error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("making the fetched-tree records' directory: %w", err)
	}
	if r.Client != "" {
		return nil
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	// Two first runs at once: the one renamed last wins, and the other's
	// archive is only fetched again next time.
	if err := writeWhole(filepath.Dir(r.clientFile), filepath.Base(r.clientFile), id); err != nil {
		return fmt.Errorf("naming this client for the fetched-tree cache: %w", err)
	}
	r.Client = id
	return nil
}

// Sum is the recorded sum of key's archive, "" when there is none.
func (r Records) Sum(key string) string {
	s, _ := r.Lookup(key)
	return s
}

// read is key's record, "" when there is none.
func (r Records) read(key string) string {
	if !hexKey.MatchString(key) {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(r.dir, key))
	if err != nil || len(data) > 256 {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Put records key's archive sum (written whole, then renamed) and drops
// the oldest records past maxRecords.
func (r *Records) Put(key, sum string) error {
	if !hexSum.MatchString(sum) {
		return fmt.Errorf("fetched-tree record: malformed sum")
	}
	return r.write(key, sum)
}

func (r *Records) write(key, content string) error {
	if !hexKey.MatchString(key) {
		return fmt.Errorf("fetched-tree record: malformed key")
	}
	if err := r.ensure(); err != nil {
		return err
	}
	if err := writeWhole(r.dir, key, content); err != nil {
		return fmt.Errorf("recording the fetched tree: %w", err)
	}
	return r.prune()
}

// writeWhole writes content and a newline to dir/name through a temporary
// file and a rename: a reader sees the old file or the new one.
func writeWhole(dir, name, content string) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.WriteString(content + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if werr != nil {
		_ = os.Remove(f.Name())
	}
	return werr
}

// seenMark is the record of inputs fetched once, with nothing saved yet.
const seenMark = "seen"

// Lookup is key's record: its archive's sum ("" when none is recorded),
// and whether its inputs were fetched before (saved or not).
func (r Records) Lookup(key string) (sum string, seen bool) {
	s := r.read(key)
	if hexSum.MatchString(s) {
		return s, true
	}
	return "", s == seenMark
}

// MarkSeen records that key's inputs were fetched, without an archive.
func (r *Records) MarkSeen(key string) error { return r.write(key, seenMark) }

// Touch marks key's record as just used, so that pruning keeps it.
func (r Records) Touch(key string) {
	if hexKey.MatchString(key) {
		now := time.Now()
		_ = os.Chtimes(filepath.Join(r.dir, key), now, now)
	}
}

func (r Records) prune() error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("pruning the fetched-tree records: %w", err)
	}
	type rec struct {
		name string
		mod  time.Time
	}
	var recs []rec
	for _, e := range entries {
		if !hexKey.MatchString(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			recs = append(recs, rec{e.Name(), fi.ModTime()})
		}
	}
	if len(recs) <= maxRecords {
		return nil
	}
	slices.SortFunc(recs, func(a, b rec) int { return b.mod.Compare(a.mod) })
	for _, old := range recs[maxRecords:] {
		_ = os.Remove(filepath.Join(r.dir, old.name))
	}
	return nil
}
