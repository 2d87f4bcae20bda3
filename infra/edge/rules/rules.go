// Package rules writes the Cloudflare Rules language expressions the edge
// generates, and parses them back strictly: only the fields, operators,
// functions and literal forms generated here are accepted, so a typo fails
// `make test` instead of `pulumi up`. It imports no Pulumi package.
package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Type is a field's value type.
type Type int

// The value types of the fields used.
const (
	String Type = iota
	IP
	Int
)

// Fields are the Rules language fields the edge uses, with their types.
var Fields = map[string]Type{
	"http.request.method":   String,
	"http.request.uri.path": String,
	"http.host":             String,
	"ip.src":                IP,
	"ip.src.country":        String,
	"ip.src.asnum":          Int,
}

// RateLimitFields are the fields every plan's rate limiting rules allow
// (Free allows only the path; Verified Bot aside).
var RateLimitFields = []string{"http.request.uri.path"}

// Path is the URL path of a source.
func Path(source string) string { return "/webhooks/" + source }

// Quote is a Rules language string literal.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// StringSet is `{"a" "b"}`, sorted so the expression is stable.
func StringSet(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = Quote(v)
	}
	sort.Strings(q)
	return "{" + strings.Join(q, " ") + "}"
}

// Allowed is the block rule's negated part: POST to a known source's path
// on a served host, or GET to the path of a source whose scheme's endpoint
// handshake is a GET (getSources, a subset of sources). Everything else is
// blocked (custom rules have no allow action, and skip would also bypass
// rate limiting).
func Allowed(hosts, sources, getSources []string) string {
	post := fmt.Sprintf(`http.request.method eq "POST" and http.request.uri.path in %s`, StringSet(paths(sources)))
	if len(getSources) == 0 {
		return fmt.Sprintf(`http.host in %s and %s`, StringSet(hosts), post)
	}
	get := fmt.Sprintf(`http.request.method eq "GET" and http.request.uri.path in %s`, StringSet(paths(getSources)))
	return fmt.Sprintf(`http.host in %s and ((%s) or (%s))`, StringSet(hosts), post, get)
}

func paths(sources []string) []string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = Path(s)
	}
	return out
}

// BlockAllButWebhooks is the WAF custom rule expression that blocks every
// request that is not Allowed.
func BlockAllButWebhooks(hosts, sources, getSources []string) string {
	return "not (" + Allowed(hosts, sources, getSources) + ")"
}

// AllowList is one source's sender allow-list.
type AllowList struct {
	Countries []string
	ASNs      []int
	IPRanges  []string
}

// BlockOutsideAllowList blocks a source's requests from senders outside its
// allow-list.
func BlockOutsideAllowList(source string, a AllowList) string {
	var any []string
	if len(a.IPRanges) > 0 {
		r := append([]string(nil), a.IPRanges...)
		sort.Strings(r)
		any = append(any, "ip.src in {"+strings.Join(r, " ")+"}")
	}
	if len(a.ASNs) > 0 {
		n := append([]int(nil), a.ASNs...)
		sort.Ints(n)
		s := make([]string, len(n))
		for i, v := range n {
			s[i] = strconv.Itoa(v)
		}
		any = append(any, "ip.src.asnum in {"+strings.Join(s, " ")+"}")
	}
	if len(a.Countries) > 0 {
		any = append(any, "ip.src.country in "+StringSet(a.Countries))
	}
	return fmt.Sprintf("http.request.uri.path eq %s and not (%s)", Quote(Path(source)), strings.Join(any, " or "))
}

// Webhooks matches every webhook path (the shared rate limit).
func Webhooks() string { return `starts_with(http.request.uri.path, "/webhooks/")` }

// SourcePath matches one source's path (a per-source rate limit).
func SourcePath(source string) string {
	return "http.request.uri.path eq " + Quote(Path(source))
}

// OnHosts matches the served hosts (the origin header transform).
func OnHosts(hosts []string) string { return "http.host in " + StringSet(hosts) }

// Check parses an expression strictly. allowed, when not nil, limits the
// fields it may use (what a plan allows in a phase).
func Check(expr string, allowed []string) error {
	toks, err := lex(expr)
	if err != nil {
		return err
	}
	p := &parser{toks: toks, allowed: allowed}
	if err := p.or(); err != nil {
		return err
	}
	if p.pos != len(p.toks) {
		return fmt.Errorf("rules: unexpected %q after the expression", p.toks[p.pos].text)
	}
	return nil
}

type kind int

const (
	tWord kind = iota // field, operator, keyword or bare literal (number, IP, CIDR)
	tString
	tPunct // ( ) { } ,
)

type token struct {
	kind kind
	text string // unquoted for strings
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.IndexByte("(){},", c) >= 0:
			out = append(out, token{tPunct, string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("rules: unterminated string")
				}
				if s[i] == '\\' {
					if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
						return nil, fmt.Errorf("rules: bad escape in string")
					}
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, token{tString, b.String()})
		case isWord(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			out = append(out, token{tWord, s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("rules: unexpected character %q", c)
		}
	}
	return out, nil
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '/'
}

type parser struct {
	toks    []token
	pos     int
	allowed []string
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *parser) next() (token, error) {
	t, ok := p.peek()
	if !ok {
		return t, fmt.Errorf("rules: expression ends too early")
	}
	p.pos++
	return t, nil
}

func (p *parser) expect(kind kind, text string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.kind != kind || t.text != text {
		return fmt.Errorf("rules: want %q, got %q", text, t.text)
	}
	return nil
}

// or := and ("or" and)*
func (p *parser) or() error {
	if err := p.and(); err != nil {
		return err
	}
	for t, ok := p.peek(); ok && t.kind == tWord && t.text == "or"; t, ok = p.peek() {
		p.pos++
		if err := p.and(); err != nil {
			return err
		}
	}
	return nil
}

// and := unary ("and" unary)*
func (p *parser) and() error {
	if err := p.unary(); err != nil {
		return err
	}
	for t, ok := p.peek(); ok && t.kind == tWord && t.text == "and"; t, ok = p.peek() {
		p.pos++
		if err := p.unary(); err != nil {
			return err
		}
	}
	return nil
}

// unary := "not" unary | "(" or ")" | call | comparison
func (p *parser) unary() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	switch {
	case t.kind == tWord && t.text == "not":
		return p.unary()
	case t.kind == tPunct && t.text == "(":
		if err := p.or(); err != nil {
			return err
		}
		return p.expect(tPunct, ")")
	case t.kind == tWord && t.text == "starts_with":
		if err := p.expect(tPunct, "("); err != nil {
			return err
		}
		typ, err := p.field()
		if err != nil {
			return err
		}
		if typ != String {
			return fmt.Errorf("rules: starts_with takes a string field")
		}
		if err := p.expect(tPunct, ","); err != nil {
			return err
		}
		if s, err := p.next(); err != nil || s.kind != tString {
			return fmt.Errorf("rules: starts_with wants a string literal")
		}
		return p.expect(tPunct, ")")
	case t.kind == tWord:
		p.pos--
		return p.comparison()
	}
	return fmt.Errorf("rules: unexpected %q", t.text)
}

func (p *parser) field() (Type, error) {
	t, err := p.next()
	if err != nil {
		return 0, err
	}
	typ, ok := Fields[t.text]
	if t.kind != tWord || !ok {
		return 0, fmt.Errorf("rules: %q is not a known field", t.text)
	}
	if p.allowed != nil && !contains(p.allowed, t.text) {
		return 0, fmt.Errorf("rules: field %s is not allowed here (allowed: %s)", t.text, strings.Join(p.allowed, ", "))
	}
	return typ, nil
}

// comparison := field ("eq"|"ne") literal | field "in" "{" literal+ "}"
func (p *parser) comparison() error {
	typ, err := p.field()
	if err != nil {
		return err
	}
	op, err := p.next()
	if err != nil {
		return err
	}
	switch {
	case op.kind == tWord && (op.text == "eq" || op.text == "ne"):
		if typ == IP {
			return fmt.Errorf("rules: compare ip.src with in {…}")
		}
		return p.literal(typ, false)
	case op.kind == tWord && op.text == "in":
		if err := p.expect(tPunct, "{"); err != nil {
			return err
		}
		n := 0
		for t, ok := p.peek(); ok && !(t.kind == tPunct && t.text == "}"); t, ok = p.peek() {
			if err := p.literal(typ, true); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("rules: empty set")
		}
		return p.expect(tPunct, "}")
	}
	return fmt.Errorf("rules: %q is not an operator (eq, ne, in)", op.text)
}

func (p *parser) literal(typ Type, inSet bool) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	switch typ {
	case String:
		if t.kind != tString {
			return fmt.Errorf("rules: want a quoted string, got %q", t.text)
		}
	case Int:
		if t.kind != tWord {
			return fmt.Errorf("rules: want a number, got %q", t.text)
		}
		if _, err := strconv.ParseUint(t.text, 10, 32); err != nil {
			return fmt.Errorf("rules: %q is not a number", t.text)
		}
	case IP:
		if t.kind != tWord || !inSet {
			return fmt.Errorf("rules: want an IP or CIDR in a set, got %q", t.text)
		}
		if _, err := netip.ParsePrefix(t.text); err != nil {
			if _, err := netip.ParseAddr(t.text); err != nil {
				return fmt.Errorf("rules: %q is not an IP address or CIDR range", t.text)
			}
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
