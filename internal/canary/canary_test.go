package canary_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/canary"
)

// A body reads back the instant it was made with, to the nanosecond, in
// any zone; what is not a ping is refused with ErrNotPing.
func TestBodyRoundTrip(t *testing.T) {
	sent := time.Date(2026, 12, 2, 13, 4, 5, 123456789, time.FixedZone("x", 3600))
	got, err := canary.SentAt(canary.Body("hookline-prod", "run-1", sent))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(sent) {
		t.Errorf("SentAt = %v; want %v", got, sent)
	}
	for name, body := range map[string]string{
		"not json":     `{`,
		"other type":   `{"type":"order.created","timestamp":"2026-12-02T13:04:05Z"}`,
		"no timestamp": `{"type":"canary.ping"}`,
		"bad time":     `{"type":"canary.ping","timestamp":"yesterday"}`,
		"array":        `[1]`,
	} {
		if _, err := canary.SentAt([]byte(body)); !errors.Is(err, canary.ErrNotPing) {
			t.Errorf("%s: err %v; want ErrNotPing", name, err)
		}
	}
}
