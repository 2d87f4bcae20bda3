// Package bootstrap renders the scripts a RabbitMQ node runs: the install
// half (install.sh: data volume, the pinned broker image, TLS, the systemd
// unit, the ready marker), which only an EC2 instance can run, and the
// configuration half (configure.sh: vhost, users, definitions), which
// `make test` runs against the real local broker. It imports no Pulumi
// package, so its tests compile in seconds.
package bootstrap

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

//go:embed configure.sh
var configureScript string

var configureTemplate = template.Must(template.New("configure.sh").Option("missingkey=error").Parse(configureScript))

// User is one broker user the configuration creates; its password is the
// "password" field of the JSON secret SecretArn, its name is Name.
type User struct {
	Name      string
	Tags      []string
	SecretArn string
}

// TagList is the tags as configure.sh reads them: comma-separated, "-" for none.
func (u User) TagList() string {
	if len(u.Tags) == 0 {
		return "-"
	}
	return strings.Join(u.Tags, ",")
}

// Configure is what the configuration half is rendered from.
type Configure struct {
	Region      string
	Stack       string
	Vhost       string
	Nodes       int
	Users       []User
	Definitions []byte // a RabbitMQ definitions document (topology.Document.JSON)
	DeleteGuest bool   // true on nodes; false against a shared local broker
	WaitSeconds int    // how long a cluster node waits for its peers and the topology; 0 = 900
	PollSeconds int    // how often it looks while it waits; 0 = 5
}

// configureView is what the template sees.
type configureView struct {
	Configure
	Definitions string
	Queues      []string
}

// RenderConfigure renders configure.sh. Every value lands inside single
// quotes, so a value with a quote, a backslash, a space (names and ARNs)
// or a newline is refused.
func RenderConfigure(c Configure) (string, error) {
	if c.Nodes != 1 && c.Nodes != 3 {
		return "", fmt.Errorf("broker configure: %d nodes; want 1 or 3", c.Nodes)
	}
	if c.WaitSeconds == 0 {
		c.WaitSeconds = 900
	}
	if c.PollSeconds == 0 {
		c.PollSeconds = 5
	}
	values := map[string]string{"Region": c.Region, "Stack": c.Stack, "Vhost": c.Vhost}
	if len(c.Users) == 0 {
		return "", fmt.Errorf("broker configure: no users")
	}
	for i, u := range c.Users {
		values[fmt.Sprintf("Users[%d].Name", i)] = u.Name
		values[fmt.Sprintf("Users[%d].SecretArn", i)] = u.SecretArn
		values[fmt.Sprintf("Users[%d].Tags", i)] = u.TagList()
		if u.Name == "" || u.SecretArn == "" {
			return "", fmt.Errorf("broker configure: user %d needs a name and a secret", i)
		}
	}
	for name, v := range values {
		if strings.ContainsAny(v, "'\\\n ") {
			return "", fmt.Errorf("broker configure: %s %q has a quote, backslash, space or newline", name, v)
		}
	}
	var doc struct {
		Queues []struct {
			Name  string `json:"name"`
			Vhost string `json:"vhost"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(c.Definitions, &doc); err != nil {
		return "", fmt.Errorf("broker configure: definitions: %w", err)
	}
	view := configureView{Configure: c, Definitions: strings.TrimRight(string(c.Definitions), "\n")}
	for _, q := range doc.Queues {
		if q.Vhost != c.Vhost {
			return "", fmt.Errorf("broker configure: definitions declare queue %q in vhost %q, not %q", q.Name, q.Vhost, c.Vhost)
		}
		if strings.ContainsAny(q.Name, "'\\\n ") {
			return "", fmt.Errorf("broker configure: queue name %q has a quote, backslash, space or newline", q.Name)
		}
		view.Queues = append(view.Queues, q.Name)
	}
	sort.Strings(view.Queues)
	for _, line := range strings.Split(view.Definitions, "\n") {
		if strings.TrimSpace(line) == "HOOKLINE_DEFINITIONS" {
			return "", fmt.Errorf("broker configure: the definitions contain the heredoc terminator")
		}
	}
	var b strings.Builder
	if err := configureTemplate.Execute(&b, view); err != nil {
		return "", err
	}
	return b.String(), nil
}
