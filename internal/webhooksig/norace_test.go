//go:build !race

package webhooksig

const raceEnabled = false
