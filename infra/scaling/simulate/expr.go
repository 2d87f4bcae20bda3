package simulate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// The subset of CloudWatch metric math the alarms use: numbers, query IDs,
// + - * /, comparisons (> >= < <= == !=, 1 or 0), AND, OR, NOT, and the
// functions IF(cond, a, b) and DIFF(x) (x minus its previous datapoint).
// A missing operand makes the result missing, as in CloudWatch.

type node interface {
	eval(s series, t int) (float64, bool)
}

// series gives a query ID's value at minute t (false: no datapoint).
type series func(id string, t int) (float64, bool)

type num float64
type ident string
type call struct {
	fn   string
	args []node
}
type binary struct {
	op   string
	l, r node
}
type unary struct {
	op string
	x  node
}

func (n num) eval(series, int) (float64, bool)       { return float64(n), true }
func (n ident) eval(s series, t int) (float64, bool) { return s(string(n), t) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c call) eval(s series, t int) (float64, bool) {
	switch c.fn {
	case "IF":
		cond, ok := c.args[0].eval(s, t)
		if !ok {
			return 0, false
		}
		if cond != 0 {
			return c.args[1].eval(s, t)
		}
		return c.args[2].eval(s, t)
	case "DIFF":
		cur, ok := c.args[0].eval(s, t)
		prev, okp := c.args[0].eval(s, t-1)
		if !ok || !okp {
			return 0, false
		}
		return cur - prev, true
	}
	return 0, false
}

func (u unary) eval(s series, t int) (float64, bool) {
	x, ok := u.x.eval(s, t)
	if !ok {
		return 0, false
	}
	if u.op == "NOT" {
		return b2f(x == 0), true
	}
	return -x, true
}

func (b binary) eval(s series, t int) (float64, bool) {
	l, okl := b.l.eval(s, t)
	r, okr := b.r.eval(s, t)
	if !okl || !okr {
		return 0, false
	}
	switch b.op {
	case "+":
		return l + r, true
	case "-":
		return l - r, true
	case "*":
		return l * r, true
	case "/":
		if r == 0 {
			return 0, false
		}
		return l / r, true
	case ">":
		return b2f(l > r), true
	case ">=":
		return b2f(l >= r), true
	case "<":
		return b2f(l < r), true
	case "<=":
		return b2f(l <= r), true
	case "==":
		return b2f(l == r), true
	case "!=":
		return b2f(l != r), true
	case "AND":
		return b2f(l != 0 && r != 0), true
	case "OR":
		return b2f(l != 0 || r != 0), true
	}
	return 0, false
}

// parseExpr parses a metric math expression.
func parseExpr(src string) (node, error) {
	p := &parser{toks: tokenize(src)}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("metric math %q: unexpected %q", src, p.toks[p.i])
	}
	return n, nil
}

func tokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case strings.ContainsRune("(),+-*/", c):
			out = append(out, string(c))
			i++
		case strings.ContainsRune("<>=!", c):
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, s[i:i+2])
				i += 2
			} else {
				out = append(out, string(c))
				i++
			}
		default:
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '.') {
				j++
			}
			if j == i {
				j = i + 1
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

type parser struct {
	toks []string
	i    int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(); p.i++; return t }

func (p *parser) or() (node, error)  { return p.left(p.and, "OR") }
func (p *parser) and() (node, error) { return p.left(p.cmp, "AND") }
func (p *parser) cmp() (node, error) { return p.left(p.add, ">", ">=", "<", "<=", "==", "!=") }
func (p *parser) add() (node, error) { return p.left(p.mul, "+", "-") }
func (p *parser) mul() (node, error) { return p.left(p.unary, "*", "/") }

func (p *parser) left(sub func() (node, error), ops ...string) (node, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		found := false
		for _, o := range ops {
			if strings.EqualFold(op, o) {
				found = true
			}
		}
		if !found {
			return l, nil
		}
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = binary{strings.ToUpper(op), l, r}
	}
}

func (p *parser) unary() (node, error) {
	switch t := p.peek(); {
	case t == "-":
		p.next()
		x, err := p.unary()
		return unary{"-", x}, err
	case strings.EqualFold(t, "NOT"):
		p.next()
		x, err := p.unary()
		return unary{"NOT", x}, err
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t {
	case "":
		return nil, fmt.Errorf("metric math: unexpected end")
	case "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("metric math: missing )")
		}
		return n, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return num(f), nil
	}
	if p.peek() == "(" {
		fn := strings.ToUpper(t)
		arity := map[string]int{"IF": 3, "DIFF": 1}[fn]
		if arity == 0 {
			return nil, fmt.Errorf("metric math: function %s is not modelled", t)
		}
		p.next()
		var args []node
		for {
			a, err := p.or()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek() == "," {
				p.next()
				continue
			}
			break
		}
		if p.next() != ")" || len(args) != arity {
			return nil, fmt.Errorf("metric math: %s takes %d arguments", fn, arity)
		}
		return call{fn, args}, nil
	}
	return ident(t), nil
}
