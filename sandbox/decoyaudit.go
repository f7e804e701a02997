package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// TheftAttempt is a decoy a package touched.
type TheftAttempt struct {
	Decoy string `json:"decoy"` // ~/.npmrc, GITHUB_TOKEN, ...
	How   string `json:"how"`   // "read", "printed", "stashed in FILE"
	// Packages are the ones that may have done it: the owner of the
	// stashing file, else every package whose scripts ran.
	Packages []string `json:"packages"`
}

func (t TheftAttempt) String() string {
	return fmt.Sprintf("%s: decoy %s %s", strings.Join(t.Packages, ", "), t.Decoy, t.How)
}

// startAudit records the decoys the scripts printed, and starts listing the
// ones they read: a read shows as an access time after the modification
// time, listed by a trusted command in a fresh container with the home
// volume mounted read-only. It runs while the artifacts are copied back;
// the returned function waits for it.
func (r *runner) startAudit(ctx context.Context, ph PhaseResult) (wait func() error) {
	ran := ranPackages(ph)
	for _, what := range r.decoyScan.Found() {
		r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: "printed in the scripts' output", Packages: ran})
	}
	id, err := r.create(ctx, *r.specs(nil).Audit)
	if err != nil {
		return func() error { return err }
	}
	done := make(chan error, 1)
	var read []string
	finished := make(chan struct{})
	r.auditFinished = finished
	go func() {
		defer close(finished)
		faultpoint.At(faultpoint.DecoyAudit)
		if err := r.runTrusted(ctx, id, "the decoy audit"); err != nil {
			done <- err
			return
		}
		var listing bytes.Buffer
		if err := r.eng.Logs(ctx, id, &listing); err != nil {
			done <- fmt.Errorf("%w: reading the decoy audit: %w", ErrEngine, err)
			return
		}
		read = r.decoys.Read(listing.String())
		done <- nil
	}()
	return func() error {
		if err := <-done; err != nil {
			return err
		}
		for _, f := range read {
			r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: f, How: "read", Packages: ran})
		}
		return nil
	}
}

// decoysInArtifacts records decoys stashed in the copied-back files, by the
// package that owns the file.
func (r *runner) decoysInArtifacts() error {
	if r.decoys == nil {
		return nil
	}
	hits := map[string][]string{}
	if r.rule != nil {
		// Only what the scripts phase changed or added can hold a value
		// made for this run: the rest is as the fetch extracted it.
		changed := r.rule.Changed()
		for _, name := range slices.Sorted(maps.Keys(changed)) {
			var found []string
			switch e := changed[name]; e.Kind {
			case tree.File:
				var err error
				if found, err = r.decoys.FindInStaged(filepath.Join(r.staging, filepath.FromSlash(name))); err != nil {
					return fmt.Errorf("searching the artifacts for decoys: %w", err)
				}
			case tree.Symlink:
				found = r.decoys.Find([]byte(e.Target)) // a link's target can carry a value too
			}
			if len(found) > 0 {
				hits[name] = found
			}
		}
	} else {
		for _, a := range r.plan.Artifacts {
			found, err := r.decoys.ScanTree(filepath.Join(r.staging, a))
			if err != nil {
				return fmt.Errorf("searching the artifacts for decoys: %w", err)
			}
			for f, what := range found {
				hits[a+"/"+f] = what
			}
		}
	}
	listed, unlisted := map[string]int{}, map[string]int{}
	for _, rel := range slices.Sorted(maps.Keys(hits)) {
		owner := r.owner(rel)
		if owner == "" {
			owner = "unknown package"
		}
		for _, what := range hits[rel] {
			if listed[what]++; listed[what] > maxStashes {
				unlisted[what]++
				continue
			}
			r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: "stashed in " + rel, Packages: []string{owner}})
		}
	}
	for _, what := range slices.Sorted(maps.Keys(unlisted)) {
		r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: fmt.Sprintf("stashed in %d more files, not listed (bound maxStashes)", unlisted[what]),
			Packages: []string{"the packages above"}})
	}
	return nil
}

// maxStashes is how many files a decoy is listed as stashed in: a script
// may copy it into a million, and the report and the terminal stay short.
const maxStashes = 20

// reportTheft tells the user, and fails the run with --strict.
func (r *runner) reportTheft() error {
	for _, t := range r.res.Theft {
		r.steps.Warn("theft attempt: %s", t)
	}
	if len(r.res.Theft) > 0 && r.opts.Strict {
		return fmt.Errorf("%w: %d decoy credential(s) touched, first %s; the project was left unchanged", ErrTheft, len(r.res.Theft), r.res.Theft[0])
	}
	return nil
}

// ranPackages are the packages whose scripts or builds ran in a phase.
func ranPackages(ph PhaseResult) []string {
	seen := map[string]bool{}
	for _, s := range ph.Scripts {
		seen[s.Package] = true
	}
	if len(seen) == 0 {
		return []string{"a package whose scripts ran"}
	}
	return slices.Sorted(maps.Keys(seen))
}

// decoyInputs are the decoy files for a home volume, dated a day back so
// that a read shows as an access time after the modification time.
func decoyInputs(d *decoy.Set) []install.Input {
	var out []install.Input
	files := d.Files()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		out = append(out, install.Input{Name: name, Data: []byte(files[name]), Mode: 0o600, ModTime: time.Now().Add(-24 * time.Hour)})
	}
	return out
}
