// Package decoy makes credentials that look real and are worth nothing,
// for the scripts containers' home and environment, and finds them again:
// in output, in files (a window at a time), in wheels, raw, hex or base64
// at any alignment, and in a listing of which were read.
package decoy
