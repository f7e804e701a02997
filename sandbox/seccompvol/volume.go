package seccompvol

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/seccomp"
)

// Files is this build's profiles' volume: its name, by the profiles'
// hash, the files that go into it, and each profile's hash.
func Files() (string, []install.Input, map[seccomp.Phase]string, error) {
	var inputs []install.Input
	hashes := map[seccomp.Phase]string{}
	all := sha256.New()
	for _, ph := range seccomp.Phases() {
		prof := seccomp.Profile(ph)
		data, err := seccomp.JSON(prof)
		if err != nil {
			return "", nil, nil, err
		}
		if hashes[ph], err = seccomp.Hash(prof); err != nil {
			return "", nil, nil, err
		}
		all.Write(data)
		inputs = append(inputs, install.Input{Name: string(ph) + ".json", Data: data, Mode: 0o644})
	}
	return "safe-install-cache-seccomp-" + hex.EncodeToString(all.Sum(nil))[:12], inputs, hashes, nil
}

// Whole says whether the volume holds every one of files byte for byte:
// a run killed while it copied them in leaves some, or part of one, under
// the name every later run looks for. local, when not "", is the volume's
// directory on this machine (a local engine), read directly; tarOf
// streams the volume's directory from the engine, for a remote engine or
// when local cannot be read.
func Whole(files []install.Input, local string, tarOf func(io.Writer) error) (bool, error) {
	want := map[string][]byte{}
	var size int64
	for _, in := range files {
		want[in.Name] = in.Data
		size += int64(len(in.Data))
	}
	if local != "" {
		if whole, err := wholeAt(local, want); err == nil {
			return whole, nil
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarOf(pw)) }()
	// The tar framing adds a block or two per file to the files' size.
	whole, err := holds(pr, want, 2*size+64<<10)
	pr.CloseWithError(io.ErrClosedPipe) // the copy ends if holds stopped early
	return whole, err
}

// wholeAt compares the files in dir, reading no more of each than it
// should hold and one byte; an error when dir or a file in it cannot be
// read (not this machine's, or not this user's).
func wholeAt(dir string, want map[string][]byte) (bool, error) {
	if _, err := os.ReadDir(dir); err != nil {
		return false, err
	}
	whole := true
	for name, data := range want {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		got, err := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
		f.Close()
		if err != nil {
			return false, err
		}
		whole = whole && bytes.Equal(got, data)
	}
	return whole, nil
}
