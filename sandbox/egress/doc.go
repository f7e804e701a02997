// Package egress is the fetch phase's only way out: an HTTP proxy on the
// host that forwards GET and HEAD to the allow-listed registries, adding
// their credentials there, and the relay that carries the fetch
// container's connections to it over the container's own stdin and
// stdout (the container has no network). Every reader of what the
// container sends is bounded (invariant 12).
package egress
