// Package seccomp builds safe-install's seccomp profiles as runtime-spec
// values: deny by default, allow what package builds use, and say why each
// dangerous call is refused.
package seccomp
