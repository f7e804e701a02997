// Package sandbox runs a package manager's install inside rootless Podman
// containers and brings back only validated artifacts.
//
// A run has five steps: copy the inputs in as a tar stream, fetch with
// scripts disabled, run install scripts with no network, copy the artifacts
// out through a hostile-archive-safe extractor, and swap them into the
// project atomically. Podman is only reached through the engine package.
// The package manager is a Manager (its Plan) and a Session (its hooks):
// packages npm and pip; the pipeline imports neither.
package sandbox
