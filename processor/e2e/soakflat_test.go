package e2e

import (
	"strings"
	"testing"
)

// The soak's leak check judges each process series from its first complete
// sample: a restarted processor sampled before its /metrics answered is not
// a baseline (the 10-minute soak once failed on goroutines -1 -> 35, RSS
// 0.9 -> 27.1 MiB, a process 0.1 s old), while real growth still fails.
func TestSoakFlatness(t *testing.T) {
	mb := int64(1024)
	cases := []struct {
		name    string
		samples []sample
		want    string // the processor line's verdict
	}{
		{"restart sampled while starting", []sample{
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 39},
			{what: "processor", pid: 2, rssKiB: 1 * mb, goroutines: -1},
			{what: "processor", pid: 2, rssKiB: 26 * mb, goroutines: 38},
			{what: "processor", pid: 2, rssKiB: 27 * mb, goroutines: 35},
		}, "goroutines 38 -> 35, RSS 26.0 -> 27.0 MiB: flat"},
		{"goroutines grow", []sample{
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 39},
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 400},
		}, "NOT FLAT"},
		{"RSS grows", []sample{
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 39},
			{what: "processor", pid: 1, rssKiB: 200 * mb, goroutines: 39},
		}, "NOT FLAT"},
		{"last sample unreadable", []sample{
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 39},
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: -1},
		}, "NOT FLAT"},
		{"restarted process never complete", []sample{
			{what: "processor", pid: 1, rssKiB: 28 * mb, goroutines: 39},
			{what: "processor", pid: 2, rssKiB: 1 * mb, goroutines: -1},
		}, "no complete sample: NOT FLAT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := (&soak{samples: c.samples}).flat()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "processor ") || !strings.HasSuffix(lines[0], c.want) {
				t.Errorf("flat() = %q; want one processor line ending %q", lines, c.want)
			}
			if c.want != "NOT FLAT" && !strings.HasSuffix(c.want, "NOT FLAT") && strings.Contains(lines[0], "NOT FLAT") {
				t.Errorf("flat() = %q; want flat", lines[0])
			}
		})
	}
}
