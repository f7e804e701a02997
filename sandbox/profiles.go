package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/hostlock"
	"github.com/safe-install/safe-install/seccomp"
)

// Profiles are the seccomp profile files the engine loads, by phase: paths
// on the engine's host.
type Profiles map[seccomp.Phase]string

// seccompMount is where the helper container sees the profile volume.
const seccompMount = "/seccomp"

// ensureProfiles puts this build's seccomp profiles into a volume on the
// engine's host, named by their hash, and returns their paths there and
// their hashes for the report. The engine reads a profile from a path on
// its own host, and the bindings take no inline profile; a volume is the
// one place on that host the API lets a client write, so a remote engine
// gets its profiles the same way as a local one. No sandbox container ever
// mounts this volume. Its content never changes: new profiles, new name.
func (r *runner) ensureProfiles(ctx context.Context) (Profiles, map[seccomp.Phase]string, error) {
	eng := r.eng
	vol, inputs, hashes, err := profileVolume()
	if err != nil {
		return nil, nil, err
	}
	r.names.ProfileVolume = vol
	// Two first runs at once: one writes the volume while the other
	// found it and loaded a profile not yet there (seen: "opening seccomp
	// profile failed"). The lock holds the others until it is whole; it is
	// this machine's, so runs from two machines on one remote engine can
	// still race.
	unlock, err := hostlock.Lock(ctx, vol)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	ok, err := eng.VolumeExists(ctx, vol)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEngine, err)
	}
	if !ok {
		if err := r.writeProfileVolume(ctx, vol, inputs); err != nil {
			_ = eng.RemoveVolume(context.WithoutCancel(ctx), vol) // never trust a half-written one
			return nil, nil, fmt.Errorf("%w: storing the seccomp profiles on the engine: %w", ErrEngine, err)
		}
	}
	dir, err := eng.VolumePath(ctx, vol)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEngine, err)
	}
	paths := Profiles{}
	for _, ph := range seccomp.Phases() {
		paths[ph] = dir + "/" + string(ph) + ".json"
	}
	return paths, hashes, nil
}

// profileVolume is the volume that holds this build's profiles, named by
// their hash, with the files that go into it and each profile's hash.
func profileVolume() (string, []install.Input, map[seccomp.Phase]string, error) {
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

// writeProfileVolume creates the volume and copies the profiles into it
// through a container that is created for this and never started.
func (r *runner) writeProfileVolume(ctx context.Context, vol string, inputs []install.Input) error {
	eng := r.eng
	if err := eng.CreateVolume(ctx, engine.VolumeSpec{Name: vol, Root: true, Shared: true, Labels: map[string]string{labelCache: "seccomp"}}); err != nil {
		return err
	}
	id, err := r.create(ctx, r.specs(nil).Profiles)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeInputs(pw, inputs)) }()
	err = eng.CopyIn(ctx, id, seccompMount, pr)
	pr.CloseWithError(err)
	return err
}

// ProfileHashes are the hashes of the profiles a run would use.
func ProfileHashes() (map[seccomp.Phase]string, error) {
	hashes := map[seccomp.Phase]string{}
	for _, ph := range seccomp.Phases() {
		h, err := seccomp.Hash(seccomp.Profile(ph))
		if err != nil {
			return nil, err
		}
		hashes[ph] = h
	}
	return hashes, nil
}
