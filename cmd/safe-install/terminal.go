package main

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal says whether w is a terminal, where progress lines are
// redrawn in place; in logs and pipes each line is printed once.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// quietWriter passes on only the progress lines a quiet run still shows:
// warnings.
type quietWriter struct{ w io.Writer }

func (q quietWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("WARN")) {
		return q.w.Write(p)
	}
	return len(p), nil
}
