package topology

// Role is what a broker user is for. Every broker user of a stack has
// exactly one role, and the role decides its tags and grants.
type Role string

// The roles.
const (
	Receiver  Role = "receiver"  // publishes accepted webhooks
	Processor Role = "processor" // consumes, retries, parks, dead-letters, replays the DLQ
	Collector Role = "collector" // reads queue metrics (management API, Prometheus)
	Admin     Role = "admin"     // the operator: applies definitions, migrates queues
)

// Grant is a user's configure/write/read permission regexes in the stack's
// vhost (rabbitmq.com/docs/access-control). "^$" matches no resource.
type Grant struct{ Configure, Write, Read string }

const none = "^$"

// User is one broker user: its production name, tags and grant.
type User struct {
	Role  Role
	Name  string   // the production user name; tests and local use their own
	Tags  []string // management tags
	Grant Grant
}

// Users lists every broker user, least privilege:
//   - the receiver publishes to Exchange and nothing else; it declares
//     nothing and reads nothing (its publishes are mandatory, so a missing
//     binding is a 503, not a silent drop);
//   - the processor reads Queue (consume) and DeadQueue (dlq list/replay)
//     and writes RetryExchange (retries, parks), DeadLetters (dead letters)
//     and Exchange (dlq replay); it declares nothing;
//   - the collector only reads metrics (monitoring tag, no resource grant);
//   - the admin applies the definitions and runs queue migrations.
//
// Nobody but the admin has a grant on the default exchange (amq.default).
func Users() []User {
	return []User{
		{Role: Receiver, Name: "hookline-receiver", Grant: Grant{Configure: none, Write: "^webhooks$", Read: none}},
		{Role: Processor, Name: "hookline-processor", Grant: Grant{
			Configure: none,
			Write:     `^webhooks(\.retry|\.dlx)?$`,
			Read:      `^webhooks\.(inbound|dead)$`,
		}},
		{Role: Collector, Name: "hookline-collector", Tags: []string{"monitoring"}, Grant: Grant{Configure: none, Write: none, Read: none}},
		{Role: Admin, Name: "hookline-admin", Tags: []string{"administrator"}, Grant: Grant{Configure: ".*", Write: ".*", Read: ".*"}},
	}
}

// UserFor returns the user with role r.
func UserFor(r Role) User {
	for _, u := range Users() {
		if u.Role == r {
			return u
		}
	}
	panic("topology: unknown role " + string(r))
}
