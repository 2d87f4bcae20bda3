package webhooksig

import "github.com/hookline/hookline/internal/jsonscan"

// maxJSONDepth matches encoding/json's nesting limit, so both agree on
// which bodies are JSON.
const maxJSONDepth = jsonscan.MaxDepth

// bodyFields reads the top-level string members "id" and "type" of a
// verified body in one validating pass, with the semantics of decoding
// into map[string]json.RawMessage: keys match exactly (after unescaping),
// the last occurrence of a key wins, a non-string value yields "", and a
// body that is not a single valid JSON object yields "" for both.
// FuzzBodyFields checks it against encoding/json.
//
// It exists because encoding/json's reflection decoder costs about six
// times the HMAC over the same bytes; jsonscan skips values at close to
// memory speed and allocates only for the strings it returns.
func bodyFields(body []byte, wantID bool) (id, typ string) {
	var idRaw, typRaw []byte // raw values, nil if absent
	ok := jsonscan.Object(body, func(k, v []byte) {
		switch {
		case wantID && jsonscan.KeyIs(k, "id"):
			idRaw = v
		case jsonscan.KeyIs(k, "type"):
			typRaw = v
		}
	})
	if !ok {
		return "", ""
	}
	return jsonscan.String(idRaw), jsonscan.String(typRaw)
}

// jsonMembers reads body as one JSON object into its top-level members
// (raw values, slices of body), as decoding into map[string]json.RawMessage
// does: keys unescaped, the last occurrence of a key wins; false if body is
// not exactly one JSON object (whitespace around it allowed). Members are
// then read leniently (memberString, jsonInt): a member of an unexpected
// type reads as absent, so a verified body is never refused for the shape
// of a field hookline only uses for ids and types. FuzzJSONMembers checks
// it against encoding/json's Decoder.
func jsonMembers(body []byte) (map[string][]byte, bool) {
	m := map[string][]byte{}
	if !jsonscan.Object(body, func(k, v []byte) { m[jsonscan.Unquote(k)] = v }) {
		return nil, false
	}
	return m, true
}

// memberString is raw as a string, "" if it is not a JSON string.
func memberString(raw []byte) string { return jsonscan.String(raw) }

// member is the raw value of the last top-level member of body named key
// (exact, after unescaping), nil if body is not exactly one JSON object or
// has no such member: jsonMembers(body)[key] without building the map.
func member(body []byte, key string) []byte {
	var raw []byte
	if !jsonscan.Object(body, func(k, v []byte) {
		if jsonscan.KeyIs(k, key) {
			raw = v
		}
	}) {
		return nil
	}
	return raw
}
