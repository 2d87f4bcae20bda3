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

// Roles are every role, in the order of Users.
var Roles = []Role{Receiver, Processor, Collector, Admin}

// Grant is a user's configure/write/read permission regexes in the stack's
// vhost (rabbitmq.com/docs/access-control). "^$" matches no resource.
type Grant struct{ Configure, Write, Read string }

const none = "^$"

// Credential is one of a role's two users. Both have the role's tags and
// grant; clients use one (the active credential) while the other's password
// changes, so a password rotates without a refused connection
// (docs/broker.md, "Rotating a broker password").
type Credential string

// The credentials: A is the user named for the role, B the same name with
// "-b" appended.
const (
	A Credential = "a"
	B Credential = "b"
)

// Credentials are both credentials, A first.
var Credentials = []Credential{A, B}

// Login is user name base as credential c: base for A, base + "-b" for B.
// Production's base is "hookline-<role>"; tests and local use their own.
func (c Credential) Login(base string) string {
	switch c {
	case A:
		return base
	case B:
		return base + "-b"
	}
	panic("topology: unknown credential " + string(c))
}

// UserName is the production name of role r's user with credential c:
// hookline-<role> (A) or hookline-<role>-b (B).
func UserName(r Role, c Credential) string { return c.Login("hookline-" + string(r)) }

// User is one broker user: its production name, tags and grant.
type User struct {
	Role       Role
	Credential Credential
	Name       string   // the production user name; tests and local use their own
	Tags       []string // management tags
	Grant      Grant
}

// Users lists every broker user, least privilege, two per role (credential
// A, then B, with the same tags and grant):
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
	var out []User
	for _, r := range roles {
		for _, c := range Credentials {
			out = append(out, User{Role: r.role, Credential: c, Name: UserName(r.role, c), Tags: append([]string(nil), r.tags...), Grant: r.grant})
		}
	}
	return out
}

var roles = []struct {
	role  Role
	tags  []string
	grant Grant
}{
	{Receiver, nil, Grant{Configure: none, Write: "^webhooks$", Read: none}},
	{Processor, nil, Grant{
		Configure: none,
		Write:     `^webhooks(\.retry|\.dlx)?$`,
		Read:      `^webhooks\.(inbound|dead)$`,
	}},
	{Collector, []string{"monitoring"}, Grant{Configure: none, Write: none, Read: none}},
	{Admin, []string{"administrator"}, Grant{Configure: ".*", Write: ".*", Read: ".*"}},
}

// UserFor returns role r's user with credential c.
func UserFor(r Role, c Credential) User {
	for _, u := range Users() {
		if u.Role == r && u.Credential == c {
			return u
		}
	}
	panic("topology: unknown role " + string(r) + " or credential " + string(c))
}
