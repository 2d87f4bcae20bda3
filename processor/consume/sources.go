package consume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookline/hookline/internal/sources"
)

// MaxUnknownParks bounds the wait for a source the document does not have:
// parked on the 1 s, 5 s, then 30 s tiers, a delivery is dead-lettered
// after this many parks (about 12 minutes), from where `processor dlq
// replay` brings it back once the source exists.
const MaxUnknownParks = 25

// resolveSources settles the items whose source was unknown when they were
// prepared: the document is read again (at most once per interval, however
// many ask), and an item whose source it now has is prepared anew and
// returned with the others; the rest are parked, never dead-lettered before
// MaxUnknownParks. A source the receiver accepts reaches the processor's
// document a little later (another file, a secret read at another time).
func (c *Consumer) resolveSources(ctx context.Context, s *session, batch []*item) []*item {
	out := make([]*item, 0, len(batch))
	for _, it := range batch {
		if it.unknown == "" {
			out = append(out, it)
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, ok, err := c.Sources.Find(fctx, it.unknown)
		cancel()
		if ok {
			// Prepared anew in place: the batch (and its panic
			// recovery) keeps seeing one item per delivery.
			if c.decode(it); it.unknown == "" {
				out = append(out, it)
				continue
			}
		}
		if ctx.Err() != nil {
			return out // shutting down: left unacked, it comes back
		}
		if it.parked >= MaxUnknownParks {
			c.deadLetter(ctx, s, it, "unknown_source", fmt.Sprintf("unknown source %q: not in the sources document after %d parks", it.unknown, it.parked))
			continue
		}
		if errors.Is(err, sources.ErrNotYet) {
			err = nil
		}
		c.Log.Info("unknown source: parked until the sources document has it", "source", it.unknown, "message_id", it.d.MessageId, "parked", it.parked, "err", err)
		c.parkUnknown(ctx, s, it)
	}
	return out
}

// parkUnknown parks a delivery whose source is not known yet.
func (c *Consumer) parkUnknown(ctx context.Context, s *session, it *item) {
	c.park(ctx, s, it, "unknown_source", parkTier(it.parked, outageCeiling))
}
