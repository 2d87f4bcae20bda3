package sources

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Loader reads and validates the sources document from wherever it lives.
type Loader func(ctx context.Context) (*Set, error)

// FileLoader reads the document from a file.
func FileLoader(path string) Loader {
	return func(context.Context) (*Set, error) { return LoadFile(path) }
}

// SecretLoader reads the document from a secret (read returns the secret's
// string value; in AWS, internal/secrets.Read from Secrets Manager).
func SecretLoader(arn string, read func(ctx context.Context, arn string) (string, error)) Loader {
	return func(ctx context.Context) (*Set, error) {
		raw, err := read(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("sources secret %s: %w", arn, err)
		}
		set, err := Parse([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("sources secret %s: %w", arn, err)
		}
		return set, nil
	}
}

// DocumentLoader always returns the document doc (given inline, e.g. in an
// environment variable: it cannot change while the process runs).
func DocumentLoader(doc []byte) Loader {
	return func(context.Context) (*Set, error) { return Parse(doc) }
}

// Live is a Set that is read again when a name is not in it: a source the
// receiver already accepts becomes known here without a restart. It re-reads
// at most once per interval, whatever the number of unknown lookups, and a
// document that fails to load or validate leaves the current Set in place.
type Live struct {
	load  Loader
	every time.Duration
	cur   atomic.Pointer[Set]

	mu   sync.Mutex // one re-read at a time; callers asking meanwhile wait for its result
	last time.Time  // when the last read started
	// OnReload, when set, is told of each re-read: the set now current
	// and the error, if the read failed (the set is then the old one).
	OnReload func(set *Set, err error)
}

// NewLive reads the document once (an error here fails start-up) and
// returns a Live that re-reads it at most once per every.
func NewLive(ctx context.Context, load Loader, every time.Duration) (*Live, error) {
	set, err := load(ctx)
	if err != nil {
		return nil, err
	}
	l := &Live{load: load, every: every, last: time.Now()}
	l.cur.Store(set)
	return l, nil
}

// Static is a Live over a fixed set: it never re-reads.
func Static(set *Set) *Live {
	l := &Live{every: time.Duration(1<<63 - 1), last: time.Now()}
	l.cur.Store(set)
	return l
}

// Current is the set in use.
func (l *Live) Current() *Set { return l.cur.Load() }

// Lookup finds a source in the current set, without reading the document.
func (l *Live) Lookup(name string) (*Source, bool) { return l.cur.Load().Lookup(name) }

// ErrNotYet means the document was read less than an interval ago: it is
// not read again yet.
var ErrNotYet = errors.New("sources: read recently, not read again yet")

// Find looks name up, reading the document again first when name is unknown
// and the last read is at least an interval old. When it stays unknown, err
// says why: ErrNotYet, the read's error, or nil (read, and not in it).
func (l *Live) Find(ctx context.Context, name string) (*Source, bool, error) {
	if src, ok := l.Lookup(name); ok {
		return src, true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if src, ok := l.Lookup(name); ok { // read while we waited
		return src, true, nil
	}
	if l.load == nil || time.Since(l.last) < l.every {
		return nil, false, ErrNotYet
	}
	l.last = time.Now()
	set, err := l.load(ctx)
	if err == nil {
		l.cur.Store(set)
	}
	if l.OnReload != nil {
		l.OnReload(l.cur.Load(), err)
	}
	if err != nil {
		return nil, false, err
	}
	src, ok := set.Lookup(name)
	return src, ok, nil
}
