package incremental

// For the tests of package incremental_test, which plan through package
// npm (it imports this one).
var (
	InstalledTree = installedTree
	Write         = write
	Must          = must
)
