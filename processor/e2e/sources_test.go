package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

// TestSourceAddedAtRuntime (issue 9 item 5): the receiver already accepts a
// source the running processor's document does not have. Its message is
// parked, not dead-lettered; once the source is added to the processor's
// file (while both run), the processor reads the document again and stores
// the event, with the new source's entity_key applied.
func TestSourceAddedAtRuntime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	old, err := os.ReadFile(e.sourcesFile)
	require.NoError(t, err)
	const lateSecret = "a-secret-for-the-late-source-0123"
	withLate := append(append([]byte(nil), old...), []byte(`  - name: late
    hosts: [localhost]
    scheme: github
    secrets: ["`+lateSecret+`"]
    entity_key: /entity
`)...)
	srv := e.receiverWith(t, withLate)
	cfg := e.config(addrs{})
	cfg.SourcesReload = 200 * time.Millisecond
	p := e.start(cfg, nil)

	body := []byte(`{"entity":"late-1","n":1}`)
	hdr, err := webhooksig.Sign(webhooksig.GitHub, lateSecret, "d-1", time.Now(), body)
	require.NoError(t, err)
	hdr.Set("X-GitHub-Event", "push")
	id := send(t, srv, "late", hdr, body)

	require.Eventually(t, func() bool { return labelValue(t, p, "retried_total", "unknown_source") >= 1 }, time.Minute, 20*time.Millisecond,
		"the unknown source's message is parked")
	require.Zero(t, e.events())
	require.Zero(t, e.depth(topology.DeadQueue), "never straight to the DLQ")

	// Add the source to the processor's file while it runs (atomically, as
	// a config management tool would).
	tmp := filepath.Join(filepath.Dir(e.sourcesFile), "sources.yaml.new")
	require.NoError(t, os.WriteFile(tmp, withLate, 0o600))
	require.NoError(t, os.Rename(tmp, e.sourcesFile))

	require.Eventually(t, func() bool {
		return e.count("SELECT COUNT(*) FROM webhook_events WHERE source = 'late' AND event_id = ? AND entity_key = 'late-1'", id) == 1 && e.settled()
	}, time.Minute, 50*time.Millisecond, "stored once the document has the source")
	require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_entities WHERE source = 'late' AND entity_key = 'late-1'"))
	require.Zero(t, e.depth(topology.DeadQueue), "nothing dead-lettered")
	require.Zero(t, labelValue(t, p, "dead_lettered_total", "unknown_source"))
}
