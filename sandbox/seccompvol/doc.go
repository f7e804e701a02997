// Package seccompvol is the seccomp profiles' lasting volume on the
// engine: its name and files, and whether what it holds is whole.
package seccompvol
