package main

import (
	"io"
	"os"
	"strings"
)

// env is everything the app takes from the process, so tests can hand it
// buffers and a made-up environment.
type env struct {
	stdout, stderr io.Writer
	vars           map[string]string
	dir            string // working directory: the project
	home           string
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
