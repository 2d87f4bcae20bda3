// Package lock takes the processor's per-entity locks in Redis.
//
// The protocol is bsm/redislock's (SET key token NX PX ttl to obtain;
// compare-token-then-PEXPIRE to refresh; compare-token-then-DEL to release),
// but a batch takes, refreshes and releases all of its keys in one pipelined
// round trip: redislock issues one round trip per key, which caps a batch of
// 100 deliveries at a fraction of the database's speed. A lock is advisory:
// it keeps workers from doing the same entity's work at the same time; the
// database's fenced write is what guarantees a stale worker cannot win.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Scripts as in github.com/bsm/redislock.
const (
	luaRefresh = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`
	luaRelease = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`
)

// Locker takes locks on one Redis.
type Locker struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns a Locker whose keys are prefix+name, held for ttl unless
// refreshed.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Locker {
	return &Locker{rdb: rdb, prefix: prefix, ttl: ttl}
}

// TTL is the lock lifetime without refresh.
func (l *Locker) TTL() time.Duration { return l.ttl }

// Set is the locks one batch holds; they share one random token.
type Set struct {
	l     *Locker
	token string

	mu   sync.Mutex
	keys []string // full Redis keys held
}

// NewSet starts an empty set with a fresh token.
func (l *Locker) NewSet() (*Set, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &Set{l: l, token: base64.RawURLEncoding.EncodeToString(b[:])}, nil
}

// Try obtains as many of names as are free, in one round trip, and returns
// the names another holder has (busy). An error means Redis did not answer;
// the set then holds nothing new.
func (s *Set) Try(ctx context.Context, names []string) (busy []string, err error) {
	return s.TryAfter(ctx, nil, names)
}

// TryAfter is Try that first releases prev's locks in the same round trip:
// a worker hands back its previous batch's locks as it takes the next
// batch's (releases run first, so a key in both is simply taken again).
func (s *Set) TryAfter(ctx context.Context, prev *Set, names []string) (busy []string, err error) {
	var prevKeys []string
	if prev != nil {
		prev.mu.Lock()
		prevKeys, prev.keys = prev.keys, nil
		prev.mu.Unlock()
	}
	if len(names) == 0 && len(prevKeys) == 0 {
		return nil, nil
	}
	ttl := s.l.ttl
	pipe := s.l.rdb.Pipeline()
	for _, k := range prevKeys {
		pipe.Eval(ctx, luaRelease, []string{k}, prev.token)
	}
	cmds := make([]*redis.BoolCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.SetNX(ctx, s.l.prefix+n, s.token, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		// Some keys may have been set before the failure; they expire
		// with the TTL (releasing them needs the same Redis).
		_ = s.releaseKeys(context.WithoutCancel(ctx), prefixed(s.l.prefix, names))
		if prev != nil {
			_ = prev.releaseKeys(context.WithoutCancel(ctx), prevKeys)
		}
		return nil, fmt.Errorf("redis lock: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cmds {
		if c.Val() {
			s.keys = append(s.keys, s.l.prefix+names[i])
		} else {
			busy = append(busy, names[i])
		}
	}
	return busy, nil
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

// Len is how many locks the set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// Refresh extends every held lock to the full TTL in one round trip and
// returns how many were no longer held (expired or taken over).
func (s *Set) Refresh(ctx context.Context) (lost int, err error) {
	s.mu.Lock()
	keys := append([]string(nil), s.keys...)
	s.mu.Unlock()
	if len(keys) == 0 {
		return 0, nil
	}
	ms := s.l.ttl.Milliseconds()
	pipe := s.l.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Eval(ctx, luaRefresh, []string{k}, s.token, ms)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redis lock refresh: %w", err)
	}
	for _, c := range cmds {
		if n, _ := c.Int64(); n != 1 {
			lost++
		}
	}
	return lost, nil
}

// Release drops every held lock still held under this set's token, in one
// round trip. Locks it cannot release (Redis down) expire with their TTL.
func (s *Set) Release(ctx context.Context) error {
	s.mu.Lock()
	keys := s.keys
	s.keys = nil
	s.mu.Unlock()
	return s.releaseKeys(ctx, keys)
}

func (s *Set) releaseKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pipe := s.l.rdb.Pipeline()
	for _, k := range keys {
		pipe.Eval(ctx, luaRelease, []string{k}, s.token)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis lock release: %w", err)
	}
	return nil
}

// Keep refreshes the set every TTL/3 until stop is called; stop waits for the
// refresher to finish. onLost is called (from the refresher) when a refresh
// finds locks no longer held.
func (s *Set) Keep(ctx context.Context, onLost func(n int)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(s.l.ttl/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := s.Refresh(ctx); err == nil && n > 0 && onLost != nil {
					onLost(n)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
