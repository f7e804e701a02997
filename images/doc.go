// Package images makes sandbox images without a container registry: a
// Debian root filesystem from mmdebstrap with the host's Node and npm from
// the npm registry and the host's CA bundle, named by a hash of its inputs.
package images
