package receiver

import (
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
)

// SetVerifier replaces how h finds a source's verifier (tests only).
func SetVerifier(h *Handler, f func(*sources.Source) webhooksig.Verifier) { h.verifierOf = f }
