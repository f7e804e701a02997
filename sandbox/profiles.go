package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/safe-install/safe-install/seccomp"
)

// Profiles are the seccomp profile files the engine loads, by phase.
type Profiles map[seccomp.Phase]string

// writeProfiles writes each phase's profile into dir (private to this run)
// and returns the paths and the profiles' hashes for the report.
func writeProfiles(dir string) (Profiles, map[seccomp.Phase]string, error) {
	paths, hashes := Profiles{}, map[seccomp.Phase]string{}
	for _, ph := range seccomp.Phases {
		prof := seccomp.Profile(ph)
		data, err := seccomp.JSON(prof)
		if err != nil {
			return nil, nil, err
		}
		p := filepath.Join(dir, "seccomp-"+string(ph)+".json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, nil, fmt.Errorf("writing the seccomp profile: %w", err)
		}
		paths[ph] = p
		if hashes[ph], err = seccomp.Hash(prof); err != nil {
			return nil, nil, err
		}
	}
	return paths, hashes, nil
}

// ProfileHashes are the hashes of the profiles a run would use.
func ProfileHashes() (map[seccomp.Phase]string, error) {
	hashes := map[seccomp.Phase]string{}
	for _, ph := range seccomp.Phases {
		h, err := seccomp.Hash(seccomp.Profile(ph))
		if err != nil {
			return nil, err
		}
		hashes[ph] = h
	}
	return hashes, nil
}
