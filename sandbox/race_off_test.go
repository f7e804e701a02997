//go:build !race

package sandbox

// raceFactor is how much more memory a test takes under -race.
const raceFactor = 1
