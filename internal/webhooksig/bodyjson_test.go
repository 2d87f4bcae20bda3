package webhooksig

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// refFields is the reference semantics of bodyFields, via encoding/json:
// exact keys, last occurrence wins, non-strings give "".
func refFields(body []byte) (id, typ string) {
	if !json.Valid(body) {
		return "", ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return "", ""
	}
	str := func(raw json.RawMessage) string {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	return str(m["id"]), str(m["type"])
}

func TestBodyFields(t *testing.T) {
	deep := func(n int) string {
		return `{"type":"x","a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	cases := []struct{ body, id, typ string }{
		{`{"id":"evt_1","type":"a.b"}`, "evt_1", "a.b"},
		{" \r\n\t{ \"type\" : \"t\" , \"id\" : \"i\" } \n", "i", "t"},
		{`{"data":{"id":"nested","type":"nested"},"id":"top"}`, "top", ""},
		{`{"ID":"upper","Type":"upper"}`, "", ""}, // exact keys (encoding/json structs would match these)
		{`{"id":1,"type":null}`, "", ""},
		{`{"id":"a","id":"b"}`, "b", ""},
		{`{"id":"a","id":2}`, "", ""},
		{`{"\u0069d":"esc-key","type":"\u00e9\n"}`, "esc-key", "é\n"},
		{"{\"type\":\"bad\xffutf8\"}", "", "bad\uFFFDutf8"},
		{`{"id":"x"} trailing`, "", ""},
		{`{"id":"x",}`, "", ""},
		{`{"id":"x"`, "", ""},
		{`{"id":"x","n":01}`, "", ""},
		{`{"id":"x","n":-1.5e+3,"b":[true,false,null,{}],"s":"\/\b"}`, "x", ""},
		{`{"id":"x","s":"\x"}`, "", ""},
		{"{\"id\":\"x\",\"s\":\"\t\"}", "", ""},
		{`["id","type"]`, "", ""},
		{`"id"`, "", ""},
		{``, "", ""},
		{`null`, "", ""},
		{deep(maxJSONDepth), "", "x"},
		{deep(maxJSONDepth + 1), "", ""},
	}
	for _, c := range cases {
		id, typ := bodyFields([]byte(c.body), true)
		assert.Equal(t, c.id, id, "id of %.80q", c.body)
		assert.Equal(t, c.typ, typ, "type of %.80q", c.body)
		rid, rtyp := refFields([]byte(c.body))
		assert.Equal(t, rid, id, "reference id of %.80q", c.body)
		assert.Equal(t, rtyp, typ, "reference type of %.80q", c.body)
		_, typOnly := bodyFields([]byte(c.body), false)
		assert.Equal(t, typ, typOnly)
	}
}

// FuzzBodyFields: the scanner agrees with encoding/json on every input.
func FuzzBodyFields(f *testing.F) {
	f.Add([]byte(stripeVector.body))
	f.Add([]byte(`{"id":"a","id":2,"type":"\u0074","x":[1,{"y":-0.5e-7}]}`))
	f.Add([]byte("{\"type\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, typ := bodyFields(body, true)
		rid, rtyp := refFields(body)
		if id != rid || typ != rtyp {
			t.Fatalf("body %q: got (%q, %q), encoding/json says (%q, %q)", body, id, typ, rid, rtyp)
		}
	})
}
