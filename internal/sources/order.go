package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"time"
)

// Order is a position in a sender's own order of events, read at a source's
// order_key: a number (a sequence, Unix seconds such as Stripe's created) or
// an RFC 3339 time (as Unix seconds), both kept to the nanosecond. The zero
// value is 0.
type Order struct {
	sec  int64
	nano int32 // 0..999,999,999, added to sec (also when sec is negative)
}

// ErrNoOrder means a body has no usable value at the source's order_key
// (missing, or neither a number nor an RFC 3339 time): the event is ordered
// by arrival, never refused for it.
var ErrNoOrder = errors.New("no order value in body")

// OrderFromTime is t as an Order (Unix seconds and nanoseconds).
func OrderFromTime(t time.Time) Order { return Order{sec: t.Unix(), nano: int32(t.Nanosecond())} }

// Compare returns -1, 0 or +1 as o is before, equal to or after p.
func (o Order) Compare(p Order) int {
	switch {
	case o.sec != p.sec:
		if o.sec < p.sec {
			return -1
		}
		return 1
	case o.nano != p.nano:
		if o.nano < p.nano {
			return -1
		}
		return 1
	}
	return 0
}

// String is o as a decimal with nine fraction digits ("1700000000.000000000"),
// the form ParseOrder reads and a DECIMAL(28,9) column stores exactly.
func (o Order) String() string {
	if o.sec < 0 && o.nano > 0 {
		// sec + nano/1e9 = -((-sec-1) + (1e9-nano)/1e9)
		return "-" + strconv.FormatUint(uint64(-(o.sec+1)), 10) + fmt.Sprintf(".%09d", 1_000_000_000-o.nano)
	}
	return strconv.FormatInt(o.sec, 10) + fmt.Sprintf(".%09d", o.nano)
}

// numberRE is a JSON number with a small exponent (the value must fit in
// int64 seconds anyway; a huge exponent would only cost memory).
var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?$`)

var (
	billion = big.NewInt(1_000_000_000)
	ratBn   = new(big.Rat).SetInt(billion)
)

// ParseOrder reads a decimal number (JSON number syntax, at most 64
// characters): digits beyond the ninth fraction digit are dropped (rounded
// toward minus infinity); a value outside int64 seconds is an error.
func ParseOrder(s string) (Order, error) {
	if len(s) > 64 || !numberRE.MatchString(s) {
		return Order{}, fmt.Errorf("%q is not a number", truncate(s))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Order{}, fmt.Errorf("%q is not a number", truncate(s))
	}
	r.Mul(r, ratBn)
	n := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for a positive divisor
	sec, nano := new(big.Int).DivMod(n, billion, new(big.Int))
	if !sec.IsInt64() {
		return Order{}, fmt.Errorf("%q is out of range", truncate(s))
	}
	return Order{sec: sec.Int64(), nano: int32(nano.Int64())}, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// HasOrder reports whether the source sets order_key.
func (s *Source) HasOrder() bool { return s.orderPointer != nil }

// Order reads the value at the source's order_key: a JSON number, a string
// holding a decimal number (some senders quote them), or an RFC 3339 time.
// Anything else, a missing value, a body that is not JSON or a source
// without order_key returns an error wrapping ErrNoOrder.
func (s *Source) Order(body []byte) (Order, error) {
	if s.orderPointer == nil {
		return Order{}, fmt.Errorf("%w: source has no order_key", ErrNoOrder)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Order{}, fmt.Errorf("%w: body is not JSON", ErrNoOrder)
	}
	v, ok := resolve(v, s.orderPointer)
	if !ok {
		return Order{}, fmt.Errorf("%w: nothing at %s", ErrNoOrder, s.OrderKey)
	}
	switch x := v.(type) {
	case json.Number:
		o, err := ParseOrder(x.String())
		if err != nil {
			return Order{}, fmt.Errorf("%w: %s: %v", ErrNoOrder, s.OrderKey, err)
		}
		return o, nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return OrderFromTime(t), nil
		}
		if o, err := ParseOrder(x); err == nil {
			return o, nil
		}
		return Order{}, fmt.Errorf("%w: %s: %q is neither a number nor an RFC 3339 time", ErrNoOrder, s.OrderKey, truncate(x))
	}
	return Order{}, fmt.Errorf("%w: %s: a %T is neither a number nor an RFC 3339 time", ErrNoOrder, s.OrderKey, v)
}
