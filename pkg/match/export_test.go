package match

// The string similarities the comparators use, for the external tests that
// check them against the libraries on generated and FEBRL records.
var (
	JaroWinkler = jaroWinkler
	OSADistance = osaDistance
)
