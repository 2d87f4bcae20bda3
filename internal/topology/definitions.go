package topology

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
)

// PolicyPriority is the priority of hookline's policies. Only one policy
// applies to a queue (the highest priority wins, the others are ignored), so
// a policy an operator adds for these queues must either carry hookline's
// keys too or be an operator policy, which combines with this one
// (docs/broker-contract.md, "Tuning").
const PolicyPriority = 10

// Document is a RabbitMQ definitions document, the format that
// `rabbitmqctl import_definitions` and the management API's
// POST /api/definitions read. It carries no users: whoever applies it
// creates them first, with passwords that never enter the document.
type Document struct {
	Vhosts      []Vhost       `json:"vhosts,omitempty"`
	Permissions []Permission  `json:"permissions,omitempty"`
	Policies    []Policy      `json:"policies,omitempty"`
	Exchanges   []ExchangeDef `json:"exchanges,omitempty"`
	Queues      []QueueDef    `json:"queues,omitempty"`
	Bindings    []Binding     `json:"bindings,omitempty"`
}

// Vhost is a virtual host.
type Vhost struct {
	Name string `json:"name"`
}

// Permission is one user's grant in a vhost.
type Permission struct {
	User      string `json:"user"`
	Vhost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

// Policy carries a queue's tunables.
type Policy struct {
	Vhost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
}

// ExchangeDef is one exchange.
type ExchangeDef struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

// QueueDef is one queue. Its arguments hold only what cannot be a policy
// (the queue type).
type QueueDef struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Arguments  map[string]any `json:"arguments"`
}

// Binding routes from an exchange to a queue.
type Binding struct {
	Source          string         `json:"source"`
	Vhost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
}

// Spec is what a definitions document is rendered from.
type Spec struct {
	Vhost string
	// Names maps each role to its base user name: credential A's user is
	// the base, B's is Credential.Login of it. A missing role gets the
	// production names from Users.
	Names map[Role]string
	// DeliveryLimit of the inbound queue; 0 means DeliveryLimit.
	DeliveryLimit int
}

// Definitions renders the document for spec.
func Definitions(spec Spec) (Document, error) {
	v := spec.Vhost
	if v == "" {
		return Document{}, fmt.Errorf("topology: definitions need a vhost")
	}
	limit := spec.DeliveryLimit
	if limit == 0 {
		limit = DeliveryLimit
	}
	if limit < 1 {
		return Document{}, fmt.Errorf("topology: delivery limit %d: want at least 1", limit)
	}
	d := Document{Vhosts: []Vhost{{Name: v}}}
	for _, u := range Users() {
		name := u.Name
		if n, ok := spec.Names[u.Role]; ok && n != "" {
			name = u.Credential.Login(n)
		}
		d.Permissions = append(d.Permissions, Permission{User: name, Vhost: v, Configure: u.Grant.Configure, Write: u.Grant.Write, Read: u.Grant.Read})
	}
	exchange := func(name, kind string) ExchangeDef {
		return ExchangeDef{Name: name, Vhost: v, Type: kind, Durable: true, Arguments: map[string]any{}}
	}
	d.Exchanges = []ExchangeDef{exchange(Exchange, "topic"), exchange(DeadLetters, "fanout"), exchange(RetryExchange, "direct")}
	queue := func(name string) QueueDef {
		return QueueDef{Name: name, Vhost: v, Durable: true, Arguments: map[string]any{"x-queue-type": "quorum"}}
	}
	bind := func(x, q, key string) Binding {
		return Binding{Source: x, Vhost: v, Destination: q, DestinationType: "queue", RoutingKey: key, Arguments: map[string]any{}}
	}
	policy := func(name, queue string, def map[string]any) Policy {
		// "queues" rather than 4.x's "quorum_queues": 3.10 knows only the
		// former, and every queue here is a quorum queue.
		return Policy{Vhost: v, Name: name, Pattern: "^" + regexp.QuoteMeta(queue) + "$", ApplyTo: "queues", Definition: def, Priority: PolicyPriority}
	}
	d.Queues = append(d.Queues, queue(Queue), queue(DeadQueue))
	d.Bindings = append(d.Bindings, bind(Exchange, Queue, "#"), bind(DeadLetters, DeadQueue, ""))
	d.Policies = append(d.Policies,
		// At-least-once dead-lettering needs reject-publish overflow.
		policy("hookline-inbound", Queue, map[string]any{
			"delivery-limit":       limit,
			"dead-letter-exchange": DeadLetters,
			"dead-letter-strategy": "at-least-once",
			"overflow":             "reject-publish",
		}),
		policy("hookline-dead", DeadQueue, map[string]any{"delivery-limit": deadDeliveryLimit}),
	)
	for _, r := range RetryTiers {
		d.Queues = append(d.Queues, queue(r.Queue()))
		d.Bindings = append(d.Bindings, bind(RetryExchange, r.Queue(), r.Queue()))
		d.Policies = append(d.Policies, policy("hookline-"+r.Queue()[len("webhooks."):], r.Queue(), map[string]any{
			"message-ttl":          r.Delay.Milliseconds(),
			"dead-letter-exchange": Exchange,
			"dead-letter-strategy": "at-least-once",
			"overflow":             "reject-publish",
		}))
	}
	sort.Slice(d.Policies, func(i, j int) bool { return d.Policies[i].Name < d.Policies[j].Name })
	return d, nil
}

// JSON renders the document, indented, with a trailing newline.
func (d Document) JSON() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // only plain values: cannot fail
	}
	return append(b, '\n')
}
