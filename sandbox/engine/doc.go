// Package engine is the narrow interface between safe-install's pipeline
// and a container engine, and its implementation on Podman's API
// (pkg/bindings): a local socket, a private service started for one run,
// or a remote engine over ssh. Every byte in or out crosses the API as a
// tar stream; nothing here knows a package manager.
package engine
