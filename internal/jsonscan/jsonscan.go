// Package jsonscan reads a few fields out of a JSON document without
// decoding it: it validates and skips values in place and hands back the
// raw bytes of the members a caller asks for. It is the one JSON body
// reader of webhooksig and sources; each caller keeps the exact semantics
// of the encoding/json decoding it replaced (which key wins, which values
// count), and a fuzz test per caller compares the two on arbitrary input.
//
// The grammar is encoding/json's: RFC 8259 values, nesting up to
// MaxDepth, strings with control characters refused and invalid UTF-8
// accepted (Unquote replaces it with U+FFFD, as encoding/json does).
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// MaxDepth matches encoding/json's nesting limit, so both agree on which
// documents are JSON.
const MaxDepth = 10000

// Object walks b, which must be exactly one JSON object with optional
// surrounding whitespace, calling fn with each top-level member's quoted
// key and raw value (both slices of b) in document order. It returns false
// if b is anything else; fn may have been called by then, so callers keep
// what fn saw only on true.
func Object(b []byte, fn func(key, val []byte)) bool {
	p := scanner{b: b}
	p.ws()
	if p.peek() != '{' || !p.object(0, fn) {
		return false
	}
	p.ws()
	return p.i == len(b)
}

// Valid is json.Valid: b is exactly one JSON value with optional
// surrounding whitespace.
func Valid(b []byte) bool {
	p := scanner{b: b}
	p.ws()
	if !p.value(0) {
		return false
	}
	p.ws()
	return p.i == len(b)
}

// First returns the first JSON value of b after whitespace, ignoring what
// follows it, as encoding/json's Decoder reads one value from a stream
// (which then only complains about trailing bytes on the next Decode).
func First(b []byte) ([]byte, bool) {
	p := scanner{b: b}
	p.ws()
	start := p.i
	if !p.value(0) {
		return nil, false
	}
	return b[start:p.i], true
}

// Members calls fn with each member of obj, a valid JSON object as Object,
// First or Members returned it; fn returns false to stop.
func Members(obj []byte, fn func(key, val []byte) bool) {
	p := scanner{b: obj}
	stop := false
	p.object(0, func(k, v []byte) {
		if !stop && !fn(k, v) {
			stop = true
		}
	})
}

// Elements calls fn with each element of arr, a valid JSON array as
// First or Members returned it; fn returns false to stop.
func Elements(arr []byte, fn func(val []byte) bool) {
	p := scanner{b: arr}
	p.i++ // '['
	p.ws()
	if p.byte(']') {
		return
	}
	for {
		p.ws()
		s := p.i
		if !p.value(1) || !fn(arr[s:p.i]) {
			return
		}
		p.ws()
		if !p.byte(',') {
			return
		}
	}
}

// KeyIs reports whether a quoted key (or string) unquotes to name, as
// encoding/json's map keys compare.
func KeyIs(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == name // no allocation
	}
	return Unquote(quoted) == name
}

// KeyFolds reports whether a quoted key selects the struct field whose
// JSON name is name when encoding/json decodes into a struct: an exact
// match, or equal under encoding/json's case folding (ASCII case, and
// Unicode simple folding: "\u212a" (Kelvin sign) selects a field "k"). A
// struct with two fields whose names fold alike is not supported.
func KeyFolds(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		ascii := true
		for _, c := range inner {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii && asciiName(name) {
			return bytes.EqualFold(inner, []byte(name))
		}
	}
	return bytes.Equal(foldName([]byte(Unquote(quoted))), foldName([]byte(name)))
}

func asciiName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldName is encoding/json's (fold.go): ASCII letters upper-cased, every
// other rune mapped to the smallest rune of its simple fold set.
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// Unquote is the value of a valid JSON string literal; invalid UTF-8 is
// replaced with U+FFFD, as encoding/json does.
func Unquote(quoted []byte) string {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return ""
	}
	return s
}

// String is raw's value if raw is a JSON string, else "" (absent, null, a
// number or a container).
func String(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	return Unquote(raw)
}

type scanner struct {
	b []byte
	i int
}

func (p *scanner) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *scanner) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value skips one JSON value; depth counts enclosing containers.
func (p *scanner) value(depth int) bool {
	switch p.peek() {
	case '"':
		return p.str()
	case '{':
		return p.object(depth, nil)
	case '[':
		if depth+1 > MaxDepth {
			return false
		}
		p.i++
		p.ws()
		if p.byte(']') {
			return true
		}
		for {
			p.ws()
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			if p.byte(']') {
				return true
			}
			if !p.byte(',') {
				return false
			}
		}
	case 't':
		return p.lit("true")
	case 'f':
		return p.lit("false")
	case 'n':
		return p.lit("null")
	default:
		return p.num()
	}
}

// object skips the object at p.i, calling fn (if not nil) per member.
func (p *scanner) object(depth int, fn func(key, val []byte)) bool {
	if depth+1 > MaxDepth {
		return false
	}
	p.i++ // '{'
	p.ws()
	if p.byte('}') {
		return true
	}
	for {
		p.ws()
		ks := p.i
		if !p.str() {
			return false
		}
		ke := p.i
		p.ws()
		if !p.byte(':') {
			return false
		}
		p.ws()
		vs := p.i
		if !p.value(depth + 1) {
			return false
		}
		if fn != nil {
			fn(p.b[ks:ke], p.b[vs:p.i])
		}
		p.ws()
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

func (p *scanner) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str skips a string literal starting at p.i (quotes included).
func (p *scanner) str() bool {
	if !p.byte('"') {
		return false
	}
	for {
		j := p.i
		for j < len(p.b) {
			c := p.b[j]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			j++
		}
		p.i = j
		if p.i >= len(p.b) {
			return false
		}
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		default: // backslash
			if p.i+1 >= len(p.b) {
				return false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if len(p.b)-p.i < 6 || !isHex(p.b[p.i+2]) || !isHex(p.b[p.i+3]) || !isHex(p.b[p.i+4]) || !isHex(p.b[p.i+5]) {
					return false
				}
				p.i += 6
			default:
				return false
			}
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (p *scanner) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// num skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) num() bool {
	p.byte('-')
	switch {
	case p.byte('0'):
	case p.peek() >= '1' && p.peek() <= '9':
		p.digits()
	default:
		return false
	}
	if p.byte('.') && p.digits() == 0 {
		return false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}
