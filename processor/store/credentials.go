package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Password reads the password the processor connects with from where it is
// kept (a rotated secret, a file). The store calls it for its first
// connection and again when the server refuses the password (1045), so a
// rotation is picked up by the next new connection; connections already
// open keep working (the server checks a password only at login).
type Password func(ctx context.Context) (string, error)

// minReread bounds how often a refused password makes the store read it
// again (a secret store is not asked once per failing connection attempt);
// readTimeout bounds one read, which holds up every new connection.
const (
	minReread   = time.Second
	readTimeout = 10 * time.Second
)

func (c *credentials) fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return c.read(ctx)
}

// credentials caches the current password.
type credentials struct {
	read   Password
	mu     sync.Mutex
	pass   string
	gen    int // incremented when a re-read found a new value
	loaded bool
	readAt time.Time // last re-read
}

// current is the cached password and its generation (read on first use).
func (c *credentials) current(ctx context.Context) (string, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		p, err := c.fetch(ctx)
		if err != nil {
			return "", 0, fmt.Errorf("database password: %w", err)
		}
		c.pass, c.loaded = p, true // readAt stays zero: only re-reads are throttled
	}
	return c.pass, c.gen, nil
}

// refused is told that the password of generation gen was refused; it
// reports whether a newer one is now current (read again here, at most once
// per minReread, or already by another connection).
func (c *credentials) refused(ctx context.Context, gen int) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return true, nil
	}
	if time.Since(c.readAt) < minReread {
		return false, nil
	}
	p, err := c.fetch(ctx)
	c.readAt = time.Now()
	if err != nil {
		return false, fmt.Errorf("database password: %w", err)
	}
	if p == c.pass {
		return false, nil
	}
	c.pass = p
	c.gen++
	return true, nil
}

// rotating connects with the current password and, when the server refuses
// it, reads the password again and retries once with a new one.
type rotating struct {
	driver.Connector
	creds *credentials
}

type genKey struct{}

// newRotating wraps cfg's connector: cfg.Passwd is replaced per connection.
func newRotating(cfg *mysql.Config, read Password) (*rotating, error) {
	r := &rotating{creds: &credentials{read: read}}
	cfg = cfg.Clone()
	if err := cfg.Apply(mysql.BeforeConnect(func(ctx context.Context, c *mysql.Config) error {
		p, gen, err := r.creds.current(ctx)
		if err != nil {
			return err
		}
		if g, ok := ctx.Value(genKey{}).(*int); ok {
			*g = gen
		}
		c.Passwd = p
		return nil
	})); err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	r.Connector = conn
	return r, nil
}

func (r *rotating) Connect(ctx context.Context) (driver.Conn, error) {
	var gen int
	conn, err := r.Connector.Connect(context.WithValue(ctx, genKey{}, &gen))
	if err == nil || !IsAuth(err) {
		return conn, err
	}
	newer, rerr := r.creds.refused(ctx, gen)
	if rerr != nil {
		return nil, fmt.Errorf("%w (and reading it again: %v)", err, rerr)
	}
	if !newer {
		return nil, err
	}
	return r.Connector.Connect(ctx)
}
