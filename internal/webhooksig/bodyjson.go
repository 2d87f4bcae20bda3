package webhooksig

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// maxJSONDepth matches encoding/json's nesting limit, so both agree on
// which bodies are JSON.
const maxJSONDepth = 10000

// bodyFields reads the top-level string members "id" and "type" of a
// verified body in one validating pass, with the semantics of decoding
// into map[string]json.RawMessage: keys match exactly (after unescaping),
// the last occurrence of a key wins, a non-string value yields "", and a
// body that is not a single valid JSON object yields "" for both.
// FuzzBodyFields checks it against encoding/json.
//
// It exists because encoding/json's reflection decoder costs about six
// times the HMAC over the same bytes; this scanner skips values at close
// to memory speed and allocates only for the strings it returns.
func bodyFields(body []byte, wantID bool) (id, typ string) {
	p := jsonScanner{b: body}
	p.ws()
	if !p.byte('{') {
		return "", ""
	}
	var idRaw, typRaw []byte // quoted values, nil if absent or not a string
	p.ws()
	if !p.byte('}') {
		for {
			p.ws()
			ks, ke, ok := p.str()
			if !ok {
				return "", ""
			}
			p.ws()
			if !p.byte(':') {
				return "", ""
			}
			p.ws()
			vs := p.i
			isStr := p.peek() == '"'
			if !p.value(1) {
				return "", ""
			}
			var raw []byte
			if isStr {
				raw = body[vs:p.i]
			}
			switch key := body[ks:ke]; {
			case wantID && keyIs(key, "id"):
				idRaw = raw
			case keyIs(key, "type"):
				typRaw = raw
			}
			p.ws()
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return "", ""
			}
		}
	}
	p.ws()
	if p.i != len(body) {
		return "", ""
	}
	return unquote(idRaw), unquote(typRaw)
}

// keyIs compares a quoted key's content (without quotes) to name,
// unescaping only when the key contains a backslash.
func keyIs(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name // no allocation
	}
	return unquote(quoted) == name
}

// unquote turns a validated JSON string literal into its value; invalid
// UTF-8 is replaced with U+FFFD, as encoding/json does.
func unquote(quoted []byte) string {
	if quoted == nil {
		return ""
	}
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

type jsonScanner struct {
	b []byte
	i int
}

func (p *jsonScanner) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonScanner) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonScanner) ws() {
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
func (p *jsonScanner) value(depth int) bool {
	switch p.peek() {
	case '"':
		_, _, ok := p.str()
		return ok
	case '{':
		if depth+1 > maxJSONDepth {
			return false
		}
		p.i++
		p.ws()
		if p.byte('}') {
			return true
		}
		for {
			p.ws()
			if _, _, ok := p.str(); !ok {
				return false
			}
			p.ws()
			if !p.byte(':') {
				return false
			}
			p.ws()
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			if p.byte('}') {
				return true
			}
			if !p.byte(',') {
				return false
			}
		}
	case '[':
		if depth+1 > maxJSONDepth {
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

func (p *jsonScanner) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str skips a string literal starting at p.i and returns its bounds
// (quotes included).
func (p *jsonScanner) str() (start, end int, ok bool) {
	start = p.i
	if !p.byte('"') {
		return 0, 0, false
	}
	for {
		// Fast skip to the next byte that needs attention.
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
			return 0, 0, false
		}
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return start, p.i, true
		case c < 0x20:
			return 0, 0, false
		default: // backslash
			if p.i+1 >= len(p.b) {
				return 0, 0, false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if len(p.b)-p.i < 6 || !isHex(p.b[p.i+2]) || !isHex(p.b[p.i+3]) || !isHex(p.b[p.i+4]) || !isHex(p.b[p.i+5]) {
					return 0, 0, false
				}
				p.i += 6
			default:
				return 0, 0, false
			}
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (p *jsonScanner) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// num skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonScanner) num() bool {
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
