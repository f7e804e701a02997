package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/escape"
)

// env is everything the app takes from the process, so tests can hand it
// buffers and a made-up environment.
type env struct {
	stdout, stderr io.Writer
	vars           map[string]string
	dir            string // working directory: the project
	home           string
	// connection and identity name a remote engine (global flags).
	connection, identity string
}

// useConnection lets a command's own --connection/--identity, when given,
// override the global ones. (Sharing the global flags' destination would
// let the command's parsing reset them to empty.)
func (e *env) useConnection(connection, identity string) {
	if connection != "" {
		e.connection = connection
	}
	if identity != "" {
		e.identity = identity
	}
}

// say prints one line to stderr, escaped: the lines name packages, paths
// and requests that came from the sandbox (invariant 11).
func (e *env) say(format string, args ...any) {
	fmt.Fprintf(e.stderr, "safe-install: %s\n", escape.Text(fmt.Sprintf(format, args...)))
}

// escapingWriter escapes each write: the log's lines carry what
// containers printed and said.
type escapingWriter struct{ w io.Writer }

func (x escapingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(x.w, escape.Text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// remote is the engine the global flags name ("" for the local one).
func (e *env) remote() engine.Remote {
	return engine.Remote{Connection: e.connection, Identity: e.identity, Home: e.home, Env: e.vars}
}

func newEnv() *env {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	dir, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	return &env{stdout: os.Stdout, stderr: os.Stderr, vars: vars, dir: dir, home: home}
}
