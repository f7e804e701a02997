package sandbox

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/internal/spread"
	"github.com/safe-install/safe-install/sandbox/staging"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// copyArtifacts streams the artifacts out of the last container through
// the validating extractor, every entry held to the phase's rule.
func (r *runner) copyArtifacts(ctx context.Context, from string) error {
	p := r.plan
	opts := archive.Options{Links: p.LinkTargets, Trees: p.Artifacts}
	if r.rule != nil {
		opts.Check = r.rule.Check
	}
	if len(r.only) > 0 || len(r.except) > 0 {
		opts.Keep = func(name string) bool { return tree.Carries(r.only, r.except, name) }
	}
	extract := func(rd io.Reader, dest, root string, lim archive.Limits) (archive.Stats, error) {
		return archive.ExtractWith(faultpoint.Reader(faultpoint.CopyBack, rd), dest, root, lim, opts)
	}
	for _, a := range p.Artifacts {
		r.copied = &atomic.Int64{}
		r.steps.BeginCounting(r.copied, "copying %s back", a)
		start := time.Now()
		if err := r.copyBack(ctx, from, a, extract); err != nil {
			return err
		}
		r.log.Debug("copied back", zap.String("path", a), zap.Duration("took", time.Since(start)),
			zap.Int("files", r.res.Copied.Files), zap.Int64("bytes", r.res.Copied.Bytes))
	}
	r.steps.End()
	r.watch.Lap("copy-back")
	return nil
}

// checkDependencyScripts holds what the dependencies' scripts left in the
// work directory to the copy-back rule, listed by a trusted command in a
// fresh container (no script's process is alive to change it afterwards)
// into a volume of its own, and returns that listing as the baseline of
// the project's own scripts.
func (r *runner) checkDependencyScripts(ctx context.Context) (tree.Tree, error) {
	after, err := r.listWork(ctx, *r.specs(nil).Listing, MidListing, "listing the work directory")
	if err != nil {
		return nil, err
	}
	// The fetch's own listing, read before any script ran, is no input of
	// the project's scripts.
	delete(after, r.plan.Baseline+".list")
	delete(after, r.plan.Baseline+".sums")
	if name, reason := r.rule.CheckAll(after); reason != "" {
		return nil, &install.ArtifactError{Package: r.blame(name), Path: name, Reason: reason + "; found before the project's own scripts ran"}
	}
	if name, reason := r.rule.Missing(nil); name != "" {
		return nil, &install.ArtifactError{Package: r.blame(name), Path: name, Reason: reason}
	}
	return after, nil
}

// listWork runs a listing container (listingSpec) and reads its listing
// out, once it has ended.
func (r *runner) listWork(ctx context.Context, spec engine.ContainerSpec, out, step string) (tree.Tree, error) {
	if !slices.Contains(r.volumes, r.names.List) {
		if err := r.createVolume(ctx, r.names.List); err != nil {
			return nil, err
		}
	}
	id, err := r.create(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := r.runTrusted(ctx, id, step); err != nil {
		return nil, err
	}
	return r.readListing(ctx, id, out)
}

// readListing reads the listing that tree.ListScript, a trusted command,
// left under prefix (an absolute path in the container: prefix.list and
// prefix.sums), as a stream: it is as large as the tree a script wrote.
func (r *runner) readListing(ctx context.Context, id, prefix string) (tree.Tree, error) {
	lim := tree.Limits{MaxEntries: r.opts.Limits.Extract.MaxEntries, MaxNameLen: r.opts.Limits.Extract.MaxNameLen}
	var t tree.Tree
	read := func(file string, parse func(io.Reader) error) error {
		return r.streamPath(ctx, id, file, func(rd io.Reader) error {
			tr := tar.NewReader(rd)
			if _, err := tr.Next(); err != nil {
				return fmt.Errorf("reading the listing %s: %w", file, err)
			}
			return parse(tr)
		})
	}
	err := read(prefix+".list", func(rd io.Reader) (err error) {
		t, err = tree.ParseList(rd, lim)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := read(prefix+".sums", func(rd io.Reader) error { return t.AddSums(rd, lim) }); err != nil {
		return nil, err
	}
	return t, nil
}

// makeStaging creates the private directory beside the targets, on the same
// filesystem, so that the swap is a rename.
func (r *runner) makeStaging() error {
	if r.staging != "" {
		return nil // made for the prefill
	}
	// The artifacts go below a subdirectory whose inodes are placed away
	// from those the old tree freed (package spread).
	outer, dir, err := spread.MakeDir(r.plan.Project, staging.Prefix)
	if err != nil {
		return fmt.Errorf("creating a staging directory in %s: %w", r.plan.Project, err)
	}
	r.stagingRoot, r.staging = outer, dir
	return staging.Claim(outer) // who to ask whether it is still in use

}

// startPrefill lets a session that builds part of the staged tree from
// the host's (install.Prefilling) start while the fetch runs, in a
// directory of the staging root beside the staging one.
func (r *runner) startPrefill(ctx context.Context) error {
	pf, ok := r.session.(install.Prefilling)
	if !ok {
		return nil
	}
	if err := r.makeStaging(); err != nil {
		return err
	}
	dir, err := spread.MakeInner(r.stagingRoot)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	wait := pf.Prefill(ctx, dir)
	r.stopPrefill = func() {
		cancel()
		if wait != nil {
			_ = wait() // a failure that matters failed the run in Deliver
		}
	}
	return nil
}

// stream runs consume on a tar stream of name (below WorkDir) copied out of
// a stopped container, and returns consume's error or the copy's.
func (r *runner) stream(ctx context.Context, id, name string, consume func(io.Reader) error) error {
	return r.streamPath(ctx, id, path.Join(install.WorkDir, name), consume)
}

// streamPath is stream for any absolute path in the container.
func (r *runner) streamPath(ctx context.Context, id, name string, consume func(io.Reader) error) error {
	pr, pw := io.Pipe()
	// An io.Pipe hands each write over only when the reader has taken
	// it, so the producer and the extractor took turns: a buffer on each
	// side lets them run at once (the bench tree's local copy: 1.2-1.3 s
	// to 0.84-0.88 s, measured).
	bw := bufio.NewWriterSize(pw, 1<<20)
	done := make(chan error, 1)
	produce := func() error { return r.eng.CopyOut(ctx, id, name, bw) }
	if rel, ok := strings.CutPrefix(name, install.WorkDir+"/"); ok && r.localWork != "" && engine.ReadableTree(r.localWork, rel) {
		// The work volume is on this machine: read it directly (see
		// engine.WriteTar); the stream is the same.
		var keep func(string) bool
		if (len(r.only) > 0 || len(r.except) > 0) && slices.Contains(r.plan.Artifacts, rel) {
			keep = func(name string) bool { return tree.Carries(r.only, r.except, name) }
		}
		produce = func() error { return engine.WriteTarSome(ctx, bw, r.localWork, rel, keep) }
	} else if ok && r.localWork != "" {
		r.log.Debug("copy-back falls back to the archive endpoint: an entry is not readable here", zap.String("path", name), zap.String("container", id))
	}
	go func() {
		err := produce()
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	// The tar reader asks for 512-byte headers; a buffer saves a goroutine
	// hand-off through the pipe for each.
	br := bufio.NewReaderSize(pr, 1<<20)
	err := consume(br)
	if err == nil {
		// A tar reader stops at the end-of-archive marker; the padding
		// after it must still be read, or the engine's copy fails on a
		// closed pipe.
		_, err = io.Copy(io.Discard, io.LimitReader(br, 1<<20))
	}
	pr.CloseWithError(errors.New("reading stopped"))
	cerr := <-done
	var refused *archive.RefusedError
	if errors.As(err, &refused) {
		return &install.ArtifactError{Package: r.blame(refused.Path), Path: refused.Path, Reason: refused.Reason}
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		// The host's disk, not the package nor the engine (whose copy
		// then only sees the pipe closed).
		return fmt.Errorf("the disk that holds %s is full, copying %s back (%w): the project is as it was; free some space there and run again", r.plan.Project, strings.TrimPrefix(name, install.WorkDir+"/"), err)
	}
	if cerr != nil {
		return fmt.Errorf("copying %s out of the sandbox: %w", name, cerr)
	}
	return err
}

// copyBack streams name out of a stopped container through the validating
// extractor into the staging directory.
func (r *runner) copyBack(ctx context.Context, id, name string, extract func(io.Reader, string, string, archive.Limits) (archive.Stats, error)) error {
	var stats archive.Stats
	err := r.stream(ctx, id, name, func(rd io.Reader) (err error) {
		if r.copied != nil {
			rd = countingReader{rd, r.copied}
		}
		stats, err = extract(rd, r.staging, name, r.opts.Limits.Extract)
		return err
	})
	if err != nil {
		return err
	}
	if !slices.Contains(r.plan.Artifacts, name) && !slices.Contains(r.plan.Manifests, name) {
		return nil // staged for a check (the lockfile), not what comes back
	}
	r.res.Copied.Files += stats.Files
	r.res.Copied.Dirs += stats.Dirs
	r.res.Copied.Symlinks += stats.Symlinks
	r.res.Copied.Hardlinks += stats.Hardlinks
	r.res.Copied.Bytes += stats.Bytes
	return nil
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// blame names who is to answer for a refused entry: the package that holds
// it or, for an entry outside every package (node_modules/.bin), the
// packages whose scripts ran.
func (r *runner) blame(entry string) string {
	if pkg := r.owner(entry); pkg != "" || r.rule == nil {
		return pkg
	}
	return "the scripts of " + r.rule.Culprits()
}

// owner names the package that holds an artifact entry, as the manager
// knows it.
func (r *runner) owner(entry string) string {
	if r.session == nil {
		return ""
	}
	return r.session.Owner(entry, r.staging)
}

// emptyDir says whether dir is a directory with nothing in it.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && errors.Is(err, io.EOF)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
