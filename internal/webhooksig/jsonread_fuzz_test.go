package webhooksig

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"testing"
)

// The decodings that jsonscan replaced, kept as the oracles of the fuzz
// tests below: every input must read the same through both.

// oldJSONMembers is jsonMembers as it was (encoding/json's Decoder).
func oldJSONMembers(body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return m, true
}

// oldMemberString is memberString as it was.
func oldMemberString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// oldSlackJSON is slackFields' JSON branch as it was.
func oldSlackJSON(body []byte) (slackBody, bool) {
	var b struct {
		Type    string `json:"type"`
		EventID string `json:"event_id"`
		Event   struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	if json.Unmarshal(body, &b) != nil {
		return slackBody{}, false
	}
	return slackBody{typ: b.Type, eventID: b.EventID, eventType: b.Event.Type}, true
}

// jsonEdgeSeeds are the inputs where a JSON reader most easily drifts from
// encoding/json.
func jsonEdgeSeeds() []string {
	deep := func(n int) string {
		return `{"type":"x","a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	return []string{
		`{"id":"evt_1","type":"a.b","object_kind":"push"}`,
		`{"id":"a","id":"b","object_kind":"x","object_kind":1}`, // duplicates: the last wins
		`{"object_kind":1,"object_kind":"x"}`,
		`{"type":"a","type":null}`, `{"type":"a","type":5}`, `{"TYPE":"up","type":"low"}`,
		`{"type":"low","Type":"up"}`, "{\"\u212ay\":1}", `{"\u0074ype":"esc"}`, `{"ty\u0070e":"\u00e9"}`,
		`{"event":{"type":"a"},"event":{}}`, `{"event":{"type":"a"},"event":null}`, `{"event":[]}`,
		`{"event":{"type":"a","type":{}}}`, `{"Event_ID":"e","event_id":null}`, `{"eVeNt":{"TyPe":"m"}}`,
		`{"event_ıd":"dotless"}`, `{"ſype":"long-s"}`, "{\"type\":\"type\",\"\xffkey\":1}",
		`{"s":"\u0000","t":"\ud83d\ude00","u":"\ud800","v":"\udc00\ud800x"}`,
		"{\"type\":\"bad\xffutf8\"}", "{\"type\":\"\xed\xa0\x80\"}", "{\"t\xc3\":1}",
		`{"n":1e400,"m":-0.0e-0,"o":01}`, `{"n":1.}`, `{"n":-}`, `{"n":.5}`,
		`{"id":"x"} trailing`, `{"id":"x"} {}`, `{"id":"x"}` + " \t\r\n", ` {"id":"x"}`, `{"id":"x",}`, `{"id":"x"`,
		`["id","type"]`, `"id"`, `null`, ` null `, `true`, `1`, ``, ` `, `{}`, `{"":""}`,
		"{\"s\":\"\t\"}", `{"s":"\x"}`, `{"s":"\u12"}`, "\ufeff{}",
		deep(maxJSONDepth), deep(maxJSONDepth + 1),
		`{"id":"` + strings.Repeat("x", 70000) + `","type":"big"}`,
	}
}

func rawEqual(a map[string][]byte, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x []byte, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// FuzzJSONMembers: jsonMembers, member and memberString read what
// encoding/json's Decoder into map[string]json.RawMessage read (gitlab,
// okta, msgraph, discord, oidc, sendgrid use them).
func FuzzJSONMembers(f *testing.F) {
	for _, s := range jsonEdgeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, ok := jsonMembers(body)
		om, ook := oldJSONMembers(body)
		if ok != ook || !rawEqual(m, om) {
			t.Fatalf("body %q: jsonMembers (%v) %q, encoding/json (%v) %q", body, ok, m, ook, om)
		}
		for _, k := range []string{"object_kind", "id", "type", ""} {
			if got, want := memberString(member(body, k)), oldMemberString(om[k]); got != want {
				t.Fatalf("body %q: member %q reads %q, encoding/json %q", body, k, got, want)
			}
			if got, want := memberString(m[k]), oldMemberString(om[k]); got != want {
				t.Fatalf("body %q: memberString(m[%q]) %q, encoding/json %q", body, k, got, want)
			}
		}
	})
}

// FuzzSlackJSON: slackJSON reads what json.Unmarshal into slackFields'
// struct read, and fails exactly where Unmarshal returned an error.
func FuzzSlackJSON(f *testing.F) {
	for _, s := range jsonEdgeSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","user":"U1"}}`))
	f.Add([]byte(`payload=%7B%22type%22%3A%22block_actions%22%7D`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, ok := slackJSON(body)
		ob, ook := oldSlackJSON(body)
		if ok != ook || b != ob {
			t.Fatalf("body %q: slackJSON (%v) %+v, encoding/json (%v) %+v", body, ok, b, ook, ob)
		}
	})
}

// TestJSONReadersAgree runs the seeds as a test, so `go test` checks them
// without -fuzz.
func TestJSONReadersAgree(t *testing.T) {
	for _, s := range jsonEdgeSeeds() {
		body := []byte(s)
		m, ok := jsonMembers(body)
		om, ook := oldJSONMembers(body)
		if ok != ook || !rawEqual(m, om) {
			t.Errorf("jsonMembers %.80q: (%v) vs encoding/json (%v)", s, ok, ook)
		}
		b, ok := slackJSON(body)
		ob, ook := oldSlackJSON(body)
		if ok != ook || b != ob {
			t.Errorf("slackJSON %.80q: (%v) %+v vs encoding/json (%v) %+v", s, ok, b, ook, ob)
		}
	}
}
