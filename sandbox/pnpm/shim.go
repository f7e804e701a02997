package pnpm

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// pnpm's .bin entries are shell scripts (shims), not links. A shim runs
// its target through node, unless the target is no node script: when a
// package's build replaces its bin with a native binary (esbuild's
// postinstall does), pnpm rebuild rewrites the shim to exec the target
// directly. That rewrite is the only change to a shim the copy-back rule
// accepts, and only for a shim whose target lies in a package that built:
// the rewritten shim is computed here from the one the fetch made, so no
// script chooses what a shim says.
const (
	dispatchStart = "\nif [ -n \"$exe\" ] && [ -x \"$basedir/node.exe\" ]; then\n"
	dispatchEnd   = "\nfi\n# cmd-shim-target="
	targetMark    = "# cmd-shim-target="
)

// directForm is the shim pnpm writes for a target that is not a node
// script, from the shim it wrote for one; ok is false for a shim of
// another form.
func directForm(shim string) (out, target string, ok bool) {
	i := strings.Index(shim, dispatchStart)
	j := strings.LastIndex(shim, dispatchEnd)
	k := strings.LastIndex(shim, targetMark)
	if i < 0 || j < i || k < 0 {
		return "", "", false
	}
	target, _, _ = strings.Cut(shim[k+len(targetMark):], "\n")
	if target == "" || strings.ContainsAny(target, "'\\") {
		return "", "", false
	}
	return shim[:i+1] + "exec \"$basedir_abs\"/'" + target + "'  \"$@\"\nexit $?\n" + shim[j+len("\nfi\n"):], target, true
}

// maxShims bounds the fetched shims read on the host (a few KB each).
const maxShims = 64 << 20

// rewrite is a fetched shim's accepted rewrite: its hash, and the target
// (slash-separated, from the work directory) whose package must have built.
type rewrite struct {
	target string
	sum    tree.Sum
}

// shimRewrites reads the shims the fetch kept (a tar of every file in a
// .bin directory) and returns, per shim, the hash of its rewritten form.
func shimRewrites(tarball []byte) (map[string]rewrite, error) {
	out := map[string]rewrite{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the fetched .bin shims: %w", err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > 1<<20 {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading the fetched .bin shims: %w", err)
		}
		name := path.Clean(h.Name)
		if form, target, ok := directForm(string(data)); ok {
			out[name] = rewrite{target: path.Join(path.Dir(name), target), sum: sha256.Sum256([]byte(form))}
		}
	}
}

// shimsPath is where the fetch left the shims' tar, in the container.
const shimsPath = install.WorkDir + "/" + shimsFile
