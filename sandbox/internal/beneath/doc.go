// Package beneath opens a host file of the project for reading by its
// name below the project's directory, never through a symlink, never
// outside that directory, never waiting on a FIFO.
package beneath
