package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
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
// mounts this volume. Its content never changes: new profiles, new name;
// each run reads it back and rewrites it unless it holds this build's
// profiles byte for byte (a run killed while writing it).
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
	if err := r.writeProfileVolume(ctx, vol, inputs, ok); err != nil {
		return nil, nil, fmt.Errorf("%w: storing the seccomp profiles on the engine: %w", ErrEngine, err)
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

// writeProfileVolume creates the volume unless it exists, and copies the
// profiles into it through a container that is created for this and never
// started, unless the volume already holds them byte for byte: a run
// killed while it copied leaves the volume with some profiles, or part of
// one, which the engine would load as they are (a truncated profile fails
// every container; a name is no proof of content).
func (r *runner) writeProfileVolume(ctx context.Context, vol string, inputs []install.Input, exists bool) error {
	eng := r.eng
	if !exists {
		if err := eng.CreateVolume(ctx, engine.VolumeSpec{Name: vol, Root: true, Shared: true, Labels: map[string]string{labelCache: "seccomp"}}); err != nil {
			return err
		}
	}
	id, err := r.create(ctx, r.specs(nil).Profiles)
	if err != nil {
		return err
	}
	if exists {
		whole, err := profilesWhole(ctx, eng, id, inputs)
		if err != nil || whole {
			return err
		}
		r.log.Warn("the seccomp profiles' volume is not whole (a run killed while writing it?); writing it again", zap.String("volume", vol))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeInputs(pw, inputs)) }()
	err = eng.CopyIn(ctx, id, seccompMount, faultpoint.Reader(faultpoint.Profiles, pr))
	pr.CloseWithError(err)
	return err
}

// profilesWhole reads the profile volume back through the writer
// container and says whether it holds every profile as this build makes it.
func profilesWhole(ctx context.Context, eng engine.Engine, id string, inputs []install.Input) (bool, error) {
	want := map[string][]byte{}
	var size int64
	for _, in := range inputs {
		want[in.Name] = in.Data
		size += int64(len(in.Data))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(eng.CopyOut(ctx, id, seccompMount, pw)) }()
	// The tar framing adds a block or two per file to the profiles' size.
	whole, err := archive.Holds(pr, want, 2*size+64<<10)
	pr.CloseWithError(io.ErrClosedPipe) // the copy ends if Holds stopped early
	if err != nil {
		return false, fmt.Errorf("reading the seccomp profiles back: %w", err)
	}
	return whole, nil
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
