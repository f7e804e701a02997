// Package fetchedtree keeps what a fetch produced (npm ci's node_modules
// and its listing) in the manager's lasting cache volume, keyed by
// everything that decides it, so that the next fetch of the same inputs
// restores it instead of running the package manager again.
//
// Why it is safe: only fetch containers mount the lasting cache, and for a
// manager that opts in (npm ci with scripts off) they run the package
// manager alone, no third-party code. The host still does not take the
// cache's word for it: each saved archive's BLAKE2b sum, as the fetch that
// wrote it printed it, is recorded on the host (Records), and a fetch
// restores an archive only when its sum is the recorded one. An archive
// changed by anything else (another client of a remote engine, a tamperer
// with access to the engine's storage) is fetched again and overwritten.
package fetchedtree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/beneath"
)

// Dir is where, in the fetch container, the archives live: in the
// manager's lasting cache volume (mounted at /cache).
const Dir = "/cache/safe-install-trees"

// EnvKey and EnvSum tell the fetch container which archive is its own and
// the sum the host recorded for it ("": none, so fetch and save).
const (
	EnvKey = "SAFE_INSTALL_TREE_KEY"
	EnvSum = "SAFE_INSTALL_TREE_SUM"
	// EnvNonce marks the script's own lines: npm prints what registries
	// send (deprecation notices), which cannot know it.
	EnvNonce = "SAFE_INSTALL_TREE_NONCE"
)

// kept is how many archives a cache volume holds, the most recently used;
// each is about the size of one node_modules.
const kept = 3

// Wrap makes a fetch script that restores paths (relative to the work
// directory) from the archive named by $SAFE_INSTALL_TREE_KEY when its sum
// is $SAFE_INSTALL_TREE_SUM, and otherwise runs script (in a subshell,
// with the same arguments) and saves paths as that archive. Its output
// says which, in lines marked with the run's $SAFE_INSTALL_TREE_NONCE
// (Parse). The archive is read once, through tee, by b2sum and by tar,
// which extracts it into a directory of its own (drained, so that b2sum
// sees every byte); the paths are moved into place only when the sum
// matches; a save's sum is taken from the stream tar writes, through tee,
// not from the file read back (which another writer of the volume could
// have swapped meanwhile), and only a save whose tar, tee and 128-digit
// sum all came out whole is kept. b2sum, since sha256sum takes 0.6 s for 100 MB on this machine's
// CPUs and BLAKE2b 0.14 s. Saving is best effort: a full disk or a file
// over the size limit leaves no archive and fails nothing. What a changed
// archive extracted is made writable before it is removed: a read-only
// directory in it (tar sets a directory's mode last) would otherwise fail
// every later fetch of these inputs, the archive staying (corpus FT-2). An
// archive is written under mktemp's name, not one made of $$: the shell's
// pid is the same in every fetch container (13, measured), so two runs
// saving one key at once would write into one file. The archive is
// opened once, by the group that starts b2sum and tee: one it cannot open
// starts neither and is a mismatch, where a failed open in tee's own
// redirection left b2sum waiting on its FIFO until the time limit, in
// every later fetch of these inputs (corpus FT-3).
func Wrap(script string, paths ...string) string {
	list := strings.Join(paths, " ")
	return `d=` + Dir + ` k="$` + EnvKey + `" s="$` + EnvSum + `" n="$` + EnvNonce + `" r=.safe-install-restore
` + imageStamp + `
find "$d" -maxdepth 1 -name '.*.tmp' -mmin +10 -delete 2>/dev/null
if [ -n "$k" ] && [ -n "$s" ] && [ -f "$d/$k.tar" ]; then
	q=$(mktemp -d) && mkdir "$r" && mkfifo "$q/fifo" || exit 97
	x=1
	{
		b2sum <"$q/fifo" >"$q/sum" & h=$!
		tee "$q/fifo" | { tar -xpf - -C "$r" 2>/dev/null; x=$?; cat >/dev/null; exit $x; }; x=$?
		wait $h || x=1
	} <"$d/$k.tar" 2>/dev/null
	got=$(cut -d' ' -f1 <"$q/sum" 2>/dev/null); rm -rf -- "$q"
	if [ $x = 0 ] && [ "$got" = "$s" ]; then
		for p in ` + list + `; do mv -- "$r/$p" "$p" || exit 97; done
		rmdir "$r" || exit 97
		touch -c "$d/$k.tar"
		echo "safe-install-tree $n: restored"
		exit 0
	fi
	chmod -R u+rwX -- "$r" 2>/dev/null
	rm -rf -- "$r" || exit 97
	echo "safe-install-tree $n: mismatch"
fi
( ` + script + `
) || exit $?
[ -n "$k" ] || exit 0
mkdir -p "$d" 2>/dev/null || exit 0
t=$(mktemp "$d/.$k.XXXXXXXX.tmp" 2>/dev/null) && q=$(mktemp -d) || exit 0
{ { tar -cf - -- ` + list + ` 2>/dev/null; echo $? >"$q/tar"; } | { tee -- "$t"; echo $? >"$q/tee"; } | b2sum >"$q/sum"; } 2>/dev/null
s=$(cut -d' ' -f1 <"$q/sum" 2>/dev/null)
if [ "$(cat "$q/tar" "$q/tee" 2>/dev/null)" = "0
0" ] && [ ${#s} = 128 ] && mv -f -- "$t" "$d/$k.tar"; then
	echo "safe-install-tree $n: saved $s"
else
	rm -f -- "$t"
fi
rm -rf -- "$q"
ls -t "$d" | grep '^[0-9a-f-]*\.tar$' | tail -n +` + fmt.Sprint(kept+1) + ` | while read -r f; do rm -f -- "$d/$f"; done
exit 0`
}

// Every wrapped fetch first removes the temporary archives of saves that
// were killed (a save writes its archive steadily, so one untouched for
// ten minutes is dead): what a killed run left in the lasting volume goes
// with the next fetch of any project.

// imageStamp adds the runtime's identity to the key, so that an image
// rebuilt under the same reference (--image NAME:latest) does not restore
// a tree another npm made: the sizes and dates of node and npm's
// package.json, which a rebuild changes, for no process start.
const imageStamp = `[ -z "$k" ] || k="$k-$(stat -c %s.%Y /usr/local/bin/node /usr/local/lib/node_modules/npm/package.json 2>&1 | b2sum | cut -c1-16)"`

// Outcome is what a wrapped fetch did with the cache.
type Outcome struct {
	// Restored: the archive was the recorded one and is the fetched
	// state; the package manager did not run.
	Restored bool
	// Mismatch: an archive was there, but not the recorded one (or it
	// did not extract): fetched again.
	Mismatch bool
	// Saved is the sum of the archive this fetch wrote ("": none).
	Saved string
	// First: these inputs had not been fetched before; nothing was saved
	// (the next fetch of them saves).
	First bool
	// Doubtful: the fetch met failed requests or refusals, so what it
	// saved may lack what it could not get; it is not recorded, and never
	// restored.
	Doubtful bool
}

// Doubt is o for a fetch that met failed requests: nothing of it is kept.
func (o Outcome) Doubt() Outcome {
	if o.Saved != "" {
		o.Saved, o.Doubtful = "", true
	}
	return o
}

var marker = regexp.MustCompile(`(?m)^safe-install-tree ([0-9a-f]{32}): (restored|mismatch|saved ([0-9a-f]{128}))$`)

// Parse reads a wrapped fetch's output: only lines marked with nonce,
// this run's, count.
func Parse(output, nonce string) Outcome {
	var o Outcome
	for _, m := range marker.FindAllStringSubmatch(output, -1) {
		switch {
		case m[1] != nonce:
		case m[2] == "restored":
			o.Restored = true
		case m[2] == "mismatch":
			o.Mismatch = true
		default:
			o.Saved = m[3]
		}
	}
	return o
}

// Key names the fetched state of plan p in image: the fetch's command and
// environment, every input with its mode and content, and the image (which
// names the package manager's and the runtime's versions). Anything else
// that could change the fetched tree would have to reach the container,
// and only these do.
func Key(p *install.Plan, image string) (string, error) {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field("safe-install fetched tree v1")
	field(image)
	field(p.Manager)
	for _, a := range p.Fetch.Command {
		field("arg " + a)
	}
	env := make([]string, 0, len(p.Fetch.Env))
	for k, v := range p.Fetch.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	for _, e := range env {
		field("env " + e)
	}
	var root *beneath.Root
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	for _, set := range [][]install.Input{p.Inputs, p.FetchOnly} {
		field("inputs")
		for _, in := range set {
			if in.Source != "" && in.Link == "" && root == nil {
				var err error
				if root, err = beneath.OpenRoot(p.Project); err != nil {
					return "", fmt.Errorf("reading the project for the fetched-tree key: %w", err)
				}
			}
			sum, err := inputSum(root, in)
			if err != nil {
				return "", err
			}
			field(fmt.Sprintf("%d:%s %o %d:%s %s", len(in.Name), in.Name, in.Mode, len(in.Link), in.Link, sum))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// inputSum is the sum of what in puts into the sandbox. A file of the
// host is read as the copy-in reads it (below root, the project's
// directory, never through a symlink, never a FIFO, which a plain open
// waited on for good), and only as far as its size when opened: the
// copy-in sends no more.
func inputSum(root *beneath.Root, in install.Input) (string, error) {
	h := sha256.New()
	switch {
	case in.Link != "":
		return "link", nil
	case in.Source == "":
		h.Write(in.Data)
	default:
		f, fi, err := root.OpenPath(in.Source)
		if err != nil {
			return "", fmt.Errorf("reading %s for the fetched-tree key: %w", in.Name, err)
		}
		defer f.Close()
		if _, err := io.CopyN(h, f, fi.Size()); err != nil {
			return "", fmt.Errorf("reading %s for the fetched-tree key: %w", in.Name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
