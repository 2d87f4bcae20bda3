package collector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// lease is the leader election among the processor's tasks: one Redis key
// holding the leader's random token with a TTL. The holder renews it on
// every tick; when it stops (SIGTERM, crash, lost network) another task
// takes over at most one TTL later, and at once after a clean release.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
}

func newLease(rdb redis.UniversalClient, key string, ttl time.Duration) *lease {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &lease{rdb: rdb, key: key, token: hex.EncodeToString(b[:]), ttl: ttl}
}

// renewScript extends the key's TTL only while it still holds our token, or
// takes it when nobody holds it.
var renewScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// hold takes or renews the lease; false when another task holds it.
func (l *lease) hold(ctx context.Context) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	return n == 1, err
}

// release gives the lease up if we hold it.
func (l *lease) release(ctx context.Context) error {
	return releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err()
}
