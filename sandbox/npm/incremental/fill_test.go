package incremental

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// fill is what Deliver does: the mirror made (here after the copy-back,
// in the pipeline while the fetch runs), then adopted.
func fill(t *testing.T, in *Install, staging string) (int, error) {
	t.Helper()
	dir := t.TempDir()
	if err := in.Prefill(context.Background(), dir); err != nil {
		return 0, err
	}
	return in.Adopt(dir, staging)
}

// linkOracle is the one-step fill Prefill and Adopt replaced: each entry
// of the host's tree outside what came back, linked where the extraction
// put nothing. Adopt must stage the same tree.
func linkOracle(in *Install, staging string) error {
	skip := slices.Concat(in.Roots(), in.Removed)
	root := filepath.Join(in.project, "node_modules")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(in.project, p)
		if under(skip, rel) && !under(in.Nested, rel) && !(d.IsDir() && leadsTo(in.Nested, rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(staging, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(dst, 0o755); errors.Is(err, fs.ErrExist) {
				if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
					return filepath.SkipDir
				}
			} else if err != nil {
				return err
			}
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			if err := os.Symlink(target, dst); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		default:
			if err := os.Link(p, dst); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		return nil
	})
}

// shape is a staged tree as comparable text: each entry's kind, a file's
// inode (the host's or the extraction's own), a symlink's target.
func shape(t *testing.T, staging string) map[string]string {
	t.Helper()
	out := map[string]string{}
	must(t, filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		must(t, err)
		rel, _ := filepath.Rel(staging, p)
		fi, err := os.Lstat(p)
		must(t, err)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		default:
			out[rel] = fmt.Sprintf("file %d", fi.Sys().(*syscall.Stat_t).Ino)
		}
		return nil
	}))
	return out
}

// Prefill then Adopt stage the very tree the one-step fill did, entry by
// entry, for each kind of change: a new package, a changed one, one with
// an unchanged package nested in it, a removed one, a change inside a
// nested unchanged one (which check then refuses), a changed one the
// extraction made nothing of, and a sandbox entry
// where the host has a directory.
func TestAdoptStagesWhatTheOneStepFillDid(t *testing.T) {
	t.Parallel()
	type change struct {
		changed, removed []string
		extract          map[string]string // staged by the extraction: name -> content ("->x": a symlink)
	}
	d := "node_modules/a/node_modules/c/node_modules/d"
	for name, c := range map[string]change{
		"added":   {changed: []string{"node_modules/new"}, extract: map[string]string{"node_modules/new/package.json": "{}", "node_modules/.bin/new": "->../new/x"}},
		"changed": {changed: []string{"node_modules/@s/b"}, extract: map[string]string{"node_modules/@s/b/package.json": "{}"}},
		"nested":  {changed: []string{"node_modules/a"}, extract: map[string]string{"node_modules/a/package.json": "{}", "node_modules/a/node_modules/.bin/z": "->../z"}},
		"bare":    {changed: []string{"node_modules/a"}, extract: map[string]string{"node_modules/.package-lock.json": "{}"}},
		"removed": {removed: []string{"node_modules/e"}},
		"inside":  {changed: []string{"node_modules/a", d}, extract: map[string]string{"node_modules/a/package.json": "{}"}},
		"moved":   {changed: []string{"node_modules/a", "node_modules/a/node_modules/d"}, removed: []string{d}, extract: map[string]string{"node_modules/a/node_modules/d/package.json": "{}"}},
		"clash":   {changed: []string{"node_modules/a"}, extract: map[string]string{"node_modules/a/package.json": "{}", "node_modules/a/node_modules": "->elsewhere"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := installedTree(t)
			write(t, filepath.Join(dir, d, "package.json"), `{"name":"d","version":"4.0.0"}`)
			write(t, filepath.Join(dir, "node_modules/e/package.json"), `{"name":"e"}`)
			write(t, filepath.Join(dir, "node_modules/e/lib/deep/x.js"), "x")
			must(t, os.Symlink("../../e/lib", filepath.Join(dir, "node_modules/@s/lib")))
			// npm's new record: the installed locations, the changed, not
			// the removed.
			now := layout.Lockfile{Packages: map[string]layout.Package{}}
			for _, loc := range slices.Concat([]string{"node_modules/a", "node_modules/@s/b", "node_modules/a/node_modules/c", d, "node_modules/e"}, c.changed) {
				if !slices.Contains(c.removed, loc) {
					now.Packages[loc] = layout.Package{Version: "1.0.0"}
				}
			}
			var staged [2]map[string]string
			for i, build := range []func(in *Install, staging string) error{
				func(in *Install, staging string) error { return linkOracle(in, staging) },
				func(in *Install, staging string) error { _, err := fill(t, in, staging); return err },
			} {
				in := &Install{project: dir, Changed: c.changed, Removed: c.removed}
				in.Nested = nestedUnchanged(now, c.changed)
				staging := t.TempDir()
				for n, body := range c.extract {
					must(t, os.MkdirAll(filepath.Dir(filepath.Join(staging, n)), 0o755))
					if target, ok := strings.CutPrefix(body, "->"); ok {
						must(t, os.Symlink(target, filepath.Join(staging, n)))
					} else {
						write(t, filepath.Join(staging, n), body)
					}
				}
				must(t, build(in, staging))
				staged[i] = shape(t, staging)
			}
			if len(staged[0]) < 10 {
				t.Fatalf("the one-step fill staged only %v", staged[0])
			}
			for n, want := range staged[0] {
				if got := staged[1][n]; got != want && !(strings.HasPrefix(want, "file") && strings.HasPrefix(got, "file") && !hostFile(t, dir, n, want)) {
					t.Errorf("%s: staged %q, the one-step fill %q", n, got, want)
				}
			}
			for n, got := range staged[1] {
				if _, ok := staged[0][n]; !ok {
					t.Errorf("%s staged (%s), not by the one-step fill", n, got)
				}
			}
		})
	}
}

// hostFile says whether the staged file n (its shape want) is the host's
// own: an extraction's file has another inode in each staging directory.
func hostFile(t *testing.T, project, n, want string) bool {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(project, n))
	return err == nil && fmt.Sprintf("file %d", fi.Sys().(*syscall.Stat_t).Ino) == want
}

// A canceled prefill stops: a failed run's clean-up waits for it.
func TestPrefillStopsWhenCanceled(t *testing.T) {
	t.Parallel()
	in := &Install{project: installedTree(t)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Prefill(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("prefill = %v, want canceled", err)
	}
}

// A host entry that is no file, directory or symlink is refused, as the
// one-step fill refused it.
func TestPrefillRefusesAFifo(t *testing.T) {
	t.Parallel()
	dir := installedTree(t)
	must(t, syscall.Mkfifo(filepath.Join(dir, "node_modules/a/pipe"), 0o644))
	in := &Install{project: dir}
	if err := in.Prefill(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "node_modules/a/pipe") {
		t.Errorf("prefill = %v, want a refusal naming node_modules/a/pipe", err)
	}
}
