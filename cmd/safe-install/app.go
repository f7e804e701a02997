package main

import (
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// errUsage marks a mistake in the command line.
var errUsage = errors.New("usage")

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// newApp builds the command tree. Before makes the logger from the global
// flags; commands read it through the pointer they were built with.
func newApp(e *env) *cli.App {
	log := zap.NewNop()
	logp := &log
	app := &cli.App{
		Name:  "safe-install",
		Usage: "install npm packages without letting their install scripts near your secrets",
		Description: `safe-install runs the package manager in two rootless Podman containers: one fetches
with scripts disabled (the only one with a network and registry credentials), one runs the
install scripts with no network, no credentials, no capabilities and bounded resources. Only
node_modules (and, for npm install, the package.json and lockfile npm wrote before any
third-party code ran) come back, entry by entry validated, and are swapped in atomically.

EXAMPLE:
   safe-install npm ci
   safe-install npm install left-pad@1.3.0
   alias npm='safe-install npm'      # then: npm ci`,
		Version:         version,
		Writer:          e.stdout,
		ErrWriter:       e.stderr,
		HideHelpCommand: true,
		// Run returns every error to main, which prints it once.
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "log every step and the containers' output to stderr", EnvVars: []string{"SAFE_INSTALL_DEBUG"}},
			&cli.StringFlag{Name: "connection", Usage: "use the Podman at this `URL` (ssh://user@host[:port]/run/user/UID/podman/podman.sock) or of this podman system connection name; the host must be in ~/.ssh/known_hosts", EnvVars: []string{"SAFE_INSTALL_CONNECTION"}, Destination: &e.connection},
			&cli.StringFlag{Name: "identity", Usage: "ssh private key `FILE` for --connection (default: the connection's, then the ssh agent)", EnvVars: []string{"CONTAINER_SSHKEY"}, Destination: &e.identity},
			&cli.StringFlag{Name: "log-format", Value: "console", Usage: "`FORMAT` of log lines: console or json", EnvVars: []string{"SAFE_INSTALL_LOG_FORMAT"}},
		},
		Before: func(c *cli.Context) error {
			l, err := newLogger(c.Bool("debug"), c.String("log-format"), e)
			if err != nil {
				return err
			}
			*logp = l
			// Podman's bindings log through logrus's global logger (for
			// example a harmless warning when an attach stream closes);
			// only --debug shows that.
			if !c.Bool("debug") {
				logrus.SetLevel(logrus.ErrorLevel)
			}
			return nil
		},
		Commands: []*cli.Command{
			newNPMCommand(e, logp),
			newPipCommand(e, logp),
			newPNPMCommand(e, logp),
			newImageCommand(e, logp),
			newDoctorCommand(e),
			newCleanCommand(e, logp),
			newSeccompCommand(e),
			newVersionCommand(e),
		},
	}
	return app
}

// newLogger writes to the app's stderr; without --debug only warnings pass.
func newLogger(debug bool, format string, e *env) (*zap.Logger, error) {
	level := zapcore.WarnLevel
	if debug {
		level = zapcore.DebugLevel
	}
	encCfg := zap.NewDevelopmentEncoderConfig()
	var enc zapcore.Encoder
	switch format {
	case "console":
		enc = zapcore.NewConsoleEncoder(encCfg)
	case "json":
		enc = zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	default:
		return nil, fmt.Errorf("%w: --log-format must be console or json, not %q", errUsage, format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(escapingWriter{e.stderr}), level)), nil
}

func newVersionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(*cli.Context) error {
			_, err := fmt.Fprintln(e.stdout, "safe-install", version)
			return err
		},
	}
}
