package grafana

import "strings"

// MetricNames returns the metric names a PromQL expression selects, in
// order of first use: every identifier that is not a keyword, an
// aggregation, a function (followed by "("), a label in a grouping list
// (by, without, on, ignoring, group_left, group_right) or inside a
// selector's braces, a number or duration, or a Grafana variable ($x,
// ${x}). A selector by {__name__=…} alone is not seen: name metrics
// directly so that they can be checked.
func MetricNames(expr string) []string {
	s := []rune(expr)
	var out []string
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '{':
			i = skipTo(s, i, '}')
		case c == '[':
			i = skipTo(s, i, ']')
		case c == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = skipTo(s, i, '}')
			} else {
				for i < len(s) && identRune(s[i], false) {
					i++
				}
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (identRune(s[i], false) || s[i] == '.') {
				i++
			}
		case identRune(c, true):
			j := i
			for j < len(s) && identRune(s[j], false) {
				j++
			}
			word := string(s[i:j])
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			call := k < len(s) && s[k] == '('
			switch {
			case grouping[strings.ToLower(word)]:
				if call {
					j = skipTo(s, k, ')')
				}
			case keywords[strings.ToLower(word)] || call:
			default:
				if !seen[word] {
					seen[word] = true
					out = append(out, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	return out
}

// grouping keywords are followed by a list of label names.
var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// keywords are PromQL's operators, modifiers and aggregations.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

func identRune(c rune, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// skipString returns the index after the string literal starting at i.
func skipString(s []rune, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		if s[i] == '\\' && q != '`' {
			i++
			continue
		}
		if s[i] == q {
			return i + 1
		}
	}
	return i
}

// skipTo returns the index after the first end at or after i+1 that is
// not inside a string literal.
func skipTo(s []rune, i int, end rune) int {
	for i++; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
		case end:
			return i + 1
		default:
			i++
		}
	}
	return i
}
