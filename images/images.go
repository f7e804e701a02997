package images

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// builderVersion changes whenever Build makes a different image from the
// same inputs, so old images are not reused.
const builderVersion = "1"

// packages are the Debian packages of the sandbox: a compiler toolchain and
// python3 for node-gyp and pip builds, and CA certificates for the fetch.
var packages = []string{"ca-certificates", "python3", "python3-dev", "python3-venv", "python3-pip", "make", "g++"}

// Spec says what goes into a sandbox image. Its Ref names the image by a
// hash of the spec, so a changed host (new node, new CA bundle) gets a new
// image instead of a stale one.
type Spec struct {
	Node     string // host's node version without "v": native addons built inside load on the host
	NPM      string // npm version; at least 11, whose --ignore-scripts also covers git deps' prepare
	Suite    string // Debian suite; the host's, so the image's glibc is no newer than the host's
	Mirror   string // Debian mirror URL
	CABundle string // host path of the CA bundle to trust (may include a corporate TLS proxy's CA)
	Arch     string // Go architecture name
}

// suitePython is the python3 each Debian suite ships: the sandbox builds
// compiled wheels with it, so it must be the host's Python.
var suitePython = map[string]string{"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}

// ForPython returns the spec with a Debian suite whose Python is version
// (major.minor): the host's own suite when it matches, another otherwise.
// Wheels built on a newer suite than the host's may need a newer C library
// than the host has; the README says so.
func (s Spec) ForPython(version string) (Spec, error) {
	if version == "" || suitePython[s.Suite] == version {
		return s, nil
	}
	for suite, v := range suitePython {
		if v == version {
			s.Suite = suite
			return s, nil
		}
	}
	return s, fmt.Errorf("no Debian suite that safe-install builds images from ships Python %s (bullseye has 3.9, bookworm 3.11, trixie 3.13); "+
		"point --python at one of those, or pass an image with a matching python3 as --image", version)
}

// Changes are the image settings given to the engine on import.
func Changes() []string {
	return []string{
		"WORKDIR /work",
		"USER 1000:1000",
		"ENV PATH=/usr/local/bin:/usr/bin:/bin",
		"ENV HOME=/home/sandbox",
	}
}

// Detect reads the host's node, npm, Debian suite, mirror and CA bundle.
func Detect(ctx context.Context) (Spec, error) {
	s := Spec{Suite: "bookworm", Mirror: "http://deb.debian.org/debian", CABundle: "/etc/ssl/certs/ca-certificates.crt", Arch: runtime.GOARCH}
	node, err := exec.CommandContext(ctx, "node", "--version").Output()
	if err != nil {
		return s, fmt.Errorf("finding the host's node (the sandbox must match it so native addons load): %w", err)
	}
	s.Node = strings.TrimPrefix(strings.TrimSpace(string(node)), "v")
	if s.NPM, err = NPMVersion(ctx); err != nil {
		return s, err
	}
	if Major(s.NPM) < 11 {
		s.NPM = "11" // older npm runs git dependencies' prepare despite --ignore-scripts
	}
	if osr, err := os.ReadFile("/etc/os-release"); err == nil {
		if c := osRelease(string(osr), "VERSION_CODENAME"); c != "" && osRelease(string(osr), "ID") == "debian" {
			s.Suite = c
		}
	}
	return s, nil
}

// NPMVersion is the version of the host's npm: read from the package.json
// beside the npm-cli.js that `npm` on PATH leads to (running npm takes
// about 0.2 s, every run), or from `npm --version` when npm is a wrapper.
func NPMVersion(ctx context.Context) (string, error) {
	if bin, err := exec.LookPath("npm"); err == nil {
		if cli, err := filepath.EvalSymlinks(bin); err == nil && filepath.Base(cli) == "npm-cli.js" {
			var m struct{ Name, Version string }
			if data, err := os.ReadFile(filepath.Join(filepath.Dir(cli), "..", "package.json")); err == nil &&
				json.Unmarshal(data, &m) == nil && m.Name == "npm" && m.Version != "" {
				return m.Version, nil
			}
		}
	}
	out, err := exec.CommandContext(ctx, "npm", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("finding the host's npm: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Major is a version's major number ("12.2.2" gives 12; 0 for none).
func Major(v string) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func osRelease(data, key string) string {
	for _, l := range strings.Split(data, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Ref is the image reference for this spec.
func (s Spec) Ref() (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, builderVersion, s.Node, s.NPM, s.Suite, s.Mirror, s.Arch, strings.Join(packages, ","))
	ca, err := os.ReadFile(s.CABundle)
	if err != nil {
		return "", fmt.Errorf("reading the CA bundle %s: %w", s.CABundle, err)
	}
	h.Write(ca)
	return fmt.Sprintf("localhost/safe-install-npm:node%s-%s", s.Node, hex.EncodeToString(h.Sum(nil))[:12]), nil
}

// nodeArch is the npm registry's name for an architecture.
func nodeArch(goarch string) string {
	if goarch == "amd64" {
		return "x64"
	}
	return goarch
}

// Build makes the image's root filesystem as a tar file in dir, offline
// from any container registry: Debian packages through mmdebstrap, the
// official Node build with its headers from the npm registry package
// node-linux-<arch>, npm itself from the npm registry, and the host's CA
// bundle. Progress goes to log.
func Build(ctx context.Context, s Spec, dir string, log io.Writer) (string, error) {
	for _, tool := range []string{"mmdebstrap", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("building the sandbox image needs %s (Debian/Ubuntu: sudo images/host-setup.sh $USER): %w", tool, err)
		}
	}
	stage := filepath.Join(dir, "stage")
	npmDir := filepath.Join(stage, "usr/local/lib/node_modules/npm")
	for _, d := range []string{filepath.Join(stage, "usr/local"), npmDir, filepath.Join(dir, "pack")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(log, "image: fetching node %s and npm %s from the npm registry\n", s.Node, s.NPM)
	nodePkg := fmt.Sprintf("node-linux-%s@%s", nodeArch(s.Arch), s.Node)
	pack := exec.CommandContext(ctx, "npm", "pack", "--silent", "--pack-destination", filepath.Join(dir, "pack"), nodePkg, "npm@"+s.NPM)
	pack.Dir = dir
	pack.Stderr = log
	// The official Node builds trust only their own CA list, not the
	// system's bundle (where a company's TLS-inspecting proxy puts its CA):
	// the bundle the image trusts is the one npm must trust here too.
	pack.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.CABundle)
	out, err := pack.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s npm@%s: %w", nodePkg, s.NPM, err)
	}
	tgz := strings.Fields(string(out))
	if len(tgz) != 2 {
		return "", fmt.Errorf("npm pack printed %q, expected two tarball names", out)
	}
	steps := [][]string{
		{"tar", "-xzf", filepath.Join(dir, "pack", tgz[0]), "--strip-components=1", "-C", filepath.Join(stage, "usr/local"), "package/bin", "package/include"},
		{"tar", "-xzf", filepath.Join(dir, "pack", tgz[1]), "--strip-components=1", "-C", npmDir},
		{"ln", "-s", "../lib/node_modules/npm/bin/npm-cli.js", filepath.Join(stage, "usr/local/bin/npm")},
		{"ln", "-s", "../lib/node_modules/npm/bin/npx-cli.js", filepath.Join(stage, "usr/local/bin/npx")},
	}
	for _, st := range steps {
		if out, err := exec.CommandContext(ctx, st[0], st[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w: %s", strings.Join(st, " "), err, out)
		}
	}
	rootfs := filepath.Join(dir, "rootfs.tar")
	fmt.Fprintf(log, "image: building a Debian %s root filesystem with mmdebstrap (takes a few minutes, once)\n", s.Suite)
	args := []string{
		"--mode=unshare", "--variant=apt", "--format=tar",
		"--include=" + strings.Join(packages, ","),
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		"--customize-hook=sync-in " + stage + " /",
		"--customize-hook=upload " + s.CABundle + " /etc/ssl/certs/ca-certificates.crt",
		// The unprivileged user every phase runs as, its writable places,
		// and no engine CLI or setuid helper left to find.
		`--customize-hook=chroot "$1" sh -c "useradd -u 1000 -U -d /home/sandbox -M -s /bin/sh sandbox && install -d -o 1000 -g 1000 /work /home/sandbox /cache /run/safe-install && find / -xdev -perm /6000 -type f -exec chmod ug-s {} +"`,
		s.Suite, rootfs, s.Mirror,
	}
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	// Interrupted, mmdebstrap removes its half-built root itself (files of
	// subordinate ids, which the user cannot remove): TERM, not the
	// default KILL, which left that tree in TMPDIR (seen). KILL only if it
	// does not end in time.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting mmdebstrap: %w", err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		fmt.Fprintf(log, "image: %s\n", sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("building the image interrupted: %w", ctx.Err())
		}
		return "", fmt.Errorf("mmdebstrap %s: %w (see the lines above)", s.Suite, err)
	}
	return rootfs, nil
}
