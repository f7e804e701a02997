package sandbox

import "github.com/safe-install/safe-install/sandbox/internal/stopwatch"

// Timing is how long one step of a run took (package stopwatch).
type Timing = stopwatch.Timing
