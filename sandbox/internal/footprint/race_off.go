//go:build !race

package footprint

// RaceFactor is how much more memory a test takes under -race.
const RaceFactor = 1
