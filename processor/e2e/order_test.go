package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/topology"
)

// TestNewestBySenderOrder runs the real pipeline with order_key: /seq on
// source shop. Each step publishes one event for entity "ent" and waits
// until it is recorded; the entity must then hold the step's winner. Arrival
// (x-received-at) alone would pick the last event every time.
func TestNewestBySenderOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{orderKey: "/seq"})
	e.start(e.config(addrs{}), nil)
	at := base
	send := func(id, body string) {
		t.Helper()
		at = at.Add(time.Second) // every event arrives later than the one before
		env := envelope.Envelope{ID: id, Source: "shop", EventType: "order.updated", ReceivedAt: at,
			RequestID: "req-" + id, ContentType: "application/json", Body: []byte(body)}
		e.publishRaw(env.RoutingKey(), env.Publishing())
		require.Eventually(t, func() bool { return e.count("SELECT COUNT(*) FROM webhook_events WHERE event_id = ?", id) == 1 },
			time.Minute, 20*time.Millisecond, "event %s recorded", id)
	}
	holds := func(want string) {
		t.Helper()
		require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_entities WHERE source = 'shop' AND entity_key = 'ent' AND last_event_id = ?", want),
			"entity holds %s", want)
	}
	for _, step := range []struct{ name, id, body, wins string }{
		{"B stored", "B", `{"entity":"ent","seq":20,"id":"B"}`, "B"},
		{"an older A arrives later (a provider retry): B stays", "A", `{"entity":"ent","seq":10,"id":"A"}`, "B"},
		{"tie on the order value: the later arrival wins", "C", `{"entity":"ent","seq":20,"id":"C"}`, "C"},
		{"a fractional, newer order wins", "D", `{"entity":"ent","seq":30.5,"id":"D"}`, "D"},
		{"malformed order value: stored, ordered by arrival, not dead-lettered", "E", `{"entity":"ent","seq":"soon","id":"E"}`, "E"},
		{"missing order value: arrival again", "F", `{"entity":"ent","id":"F"}`, "F"},
		{"stored event has no order: arrival decides, so an older seq still applies", "G", `{"entity":"ent","seq":1,"id":"G"}`, "G"},
		{"both have one again: the older H is fenced out", "H", `{"entity":"ent","seq":0,"id":"H"}`, "G"},
	} {
		send(step.id, step.body)
		holds(step.wins)
	}
	require.Eventually(t, e.settled, time.Minute, 50*time.Millisecond)
	require.Equal(t, 8, e.events())
	require.Equal(t, 0, e.depth(topology.DeadQueue), "nothing dead-lettered")
	var order string
	require.NoError(t, e.db_.QueryRowContext(context.Background(), "SELECT last_order FROM webhook_entities WHERE entity_key = 'ent'").Scan(&order))
	require.Equal(t, "1.000000000", order)
}

// TestKeysDifferingByTrailingSpace: through the whole pipeline, entity keys
// "acme" and "acme " are two entities and event ids "k-1" and "k-1 " two
// events, settled in bounded time (they livelocked on PAD SPACE columns).
func TestKeysDifferingByTrailingSpace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.start(e.config(addrs{}), nil)
	unique := []event{
		{id: "k-1", entity: "acme", seq: 1, at: base},
		{id: "k-1 ", entity: "acme ", seq: 2, at: base.Add(time.Millisecond)},
		{id: "k-2", entity: "acme", seq: 3, at: base.Add(2 * time.Millisecond)},
		{id: "k-2 ", entity: "acme", seq: 4, at: base.Add(3 * time.Millisecond)},
	}
	e.publish(append(unique, unique...)...) // and every one redelivered
	e.waitDrained(unique, time.Minute)
	e.requireExactlyOnce(unique)
	require.Equal(t, 2, e.count("SELECT COUNT(*) FROM webhook_entities WHERE source = 'shop'"))
}
