package store

import (
	"crypto/sha256"
	"encoding/hex"
)

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}
