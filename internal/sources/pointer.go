package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer (must start with /)", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("%q: '~' must be followed by 0 or 1", p)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// ErrNoEntity means the body has no value at the source's entity_key.
var ErrNoEntity = errors.New("no entity key in body")

// Entity extracts the value at the source's entity_key from a JSON body:
// strings as they are, numbers and booleans as their JSON text. A source
// without entity_key, a body that is not JSON or a pointer to nothing, an
// object or an array returns ErrNoEntity.
func (s *Source) Entity(body []byte) (string, error) {
	if s.pointer == nil {
		return "", ErrNoEntity
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("%w: body is not JSON", ErrNoEntity)
	}
	v, ok := resolve(v, s.pointer)
	if !ok {
		return "", ErrNoEntity
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", ErrNoEntity
		}
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", ErrNoEntity
}

// resolve follows a parsed pointer into a decoded JSON value.
func resolve(v any, pointer []string) (any, bool) {
	for _, t := range pointer {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}
