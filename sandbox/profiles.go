package sandbox

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/internal/hostlock"
	"github.com/safe-install/safe-install/sandbox/seccompvol"
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
	vol, inputs, hashes, err := seccompvol.Files()
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
	dir, err := r.writeProfileVolume(ctx, vol, inputs)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: storing the seccomp profiles on the engine: %w", ErrEngine, err)
	}
	paths := Profiles{}
	for _, ph := range seccomp.Phases() {
		paths[ph] = dir + "/" + string(ph) + ".json"
	}
	return paths, hashes, nil
}

// writeProfileVolume makes the volume hold the profiles and returns its
// path on the engine's host. It copies them in through a container that
// is created for this and never started, unless the volume exists and
// holds them byte for byte (seccompvol.Whole: a name is no proof of
// content, and a truncated profile would fail every container).
func (r *runner) writeProfileVolume(ctx context.Context, vol string, inputs []install.Input) (string, error) {
	eng := r.eng
	exists, err := eng.VolumeExists(ctx, vol)
	if err != nil {
		return "", err
	}
	if !exists {
		if err := eng.CreateVolume(ctx, engine.VolumeSpec{Name: vol, Root: true, Shared: true, Labels: map[string]string{labelCache: "seccomp"}}); err != nil {
			return "", err
		}
	}
	dir, err := eng.VolumePath(ctx, vol)
	if err != nil {
		return "", err
	}
	id := ""
	writer := func() (err error) {
		if id == "" {
			id, err = r.create(ctx, profileWriterSpec(r.opts.Image, r.names, r.opts.Limits)) // before the plan (RunPlanned)
		}
		return err
	}
	if exists {
		local := ""
		if r.res.Engine.Host == "local" {
			local = dir
		}
		whole, err := seccompvol.Whole(inputs, local, func(w io.Writer) error {
			if err := writer(); err != nil {
				return err
			}
			return eng.CopyOut(ctx, id, seccompMount, w)
		})
		if err != nil || whole {
			return dir, err
		}
		r.log.Warn("the seccomp profiles' volume is not whole (a run killed while writing it?); writing it again", zap.String("volume", vol))
	}
	if err := writer(); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeInputs(pw, "", inputs)) }()
	err = eng.CopyIn(ctx, id, seccompMount, faultpoint.Reader(faultpoint.Profiles, pr))
	pr.CloseWithError(err)
	return dir, err
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
