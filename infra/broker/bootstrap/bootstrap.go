// Package bootstrap renders the scripts a RabbitMQ node runs: the install
// half (install.sh: data volume, the pinned broker image, TLS, the systemd
// unit, the ready marker), which only an EC2 instance can run, and the
// configuration half (configure.sh: vhost, users, definitions), which
// `make test` runs against the real local broker. It imports no Pulumi
// package, so its tests compile in seconds.
package bootstrap

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
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

//go:embed install.sh
var installScript string

var installTemplate = template.Must(template.New("install.sh").Option("missingkey=error").Parse(installScript))

// The broker pins (docs/decisions.md, "The broker runs the official image
// pinned by digest"): the official multi-arch rabbitmq image by its index
// digest, which holds RabbitMQ and the Erlang/OTP it was built with, and
// the container runtime package of Amazon Linux 2023.
const (
	// DefaultImage is rabbitmq:4.3.6-management as docker-library's
	// repo-info records it (repos/rabbitmq/remote/4.3.6-management.md):
	// an OCI index for amd64, arm/v7 and arm64/v8.
	DefaultImage = "docker.io/library/rabbitmq:4.3.6-management@sha256:c6c748ed27d7fd3733187c73cd022feae76d6a7c2ffa4bf1ab3ef75edfdb9797"
	// ErlangSeries is the Erlang/OTP release the image must run: the 4.3
	// images are built on OTP 27.3.4.x, and RabbitMQ 4.3.6 supports 27.0
	// to 28.x (rabbitmq.com/docs/which-erlang).
	ErlangSeries = "27"
	// DockerPackage is AL2023's docker at the version the AL2023
	// 2023.12.20261029.0 release ships (aws/amazon-ecs-ami release 20261030).
	DockerPackage = "docker-25.0.18"
	// UserDataLimit is EC2's limit on user data (before base64).
	UserDataLimit = 16 * 1024
)

// Install is what the install half (user data) is rendered from, per node.
type Install struct {
	Region            string
	Stack             string
	Node              string // e.g. hookline-prod-rabbitmq-0
	NodeIndex         int
	Nodes             int
	ClusterTag        string
	DataVolumeID      string
	Image             string // name:tag@sha256:digest
	RabbitMQVersion   string // exact, the image tag's version
	ErlangSeries      string
	DockerPackage     string
	Endpoint          string // the DNS name clients use (in the node certificate)
	ConfigureDocument string // the SSM document with the configuration half
	StatusParameter   string // the SSM parameter the node writes its ready marker to
	LogGroup          string
	MetricsNamespace  string
	CAKeySecretArn    string
	CACertSecretArn   string
	CookieSecretArn   string // only with Nodes > 1
}

// RenderInstall renders install.sh for one node. Every value lands inside
// single quotes, so a value with a quote, a backslash or a newline is
// refused; the image must be pinned by digest.
func RenderInstall(in Install) (string, error) {
	values := map[string]string{
		"Region": in.Region, "Stack": in.Stack, "Node": in.Node, "ClusterTag": in.ClusterTag,
		"DataVolumeID": in.DataVolumeID, "Image": in.Image, "RabbitMQVersion": in.RabbitMQVersion,
		"ErlangSeries": in.ErlangSeries, "DockerPackage": in.DockerPackage, "Endpoint": in.Endpoint,
		"ConfigureDocument": in.ConfigureDocument, "StatusParameter": in.StatusParameter, "LogGroup": in.LogGroup,
		"MetricsNamespace": in.MetricsNamespace, "CAKeySecretArn": in.CAKeySecretArn, "CACertSecretArn": in.CACertSecretArn,
		"CookieSecretArn": in.CookieSecretArn,
	}
	for name, v := range values {
		if strings.ContainsAny(v, "'\\\n ") {
			return "", fmt.Errorf("broker install: %s %q has a quote, backslash, space or newline", name, v)
		}
		if v == "" && name != "CookieSecretArn" {
			return "", fmt.Errorf("broker install: %s is empty", name)
		}
	}
	if in.Nodes != 1 && in.Nodes != 3 {
		return "", fmt.Errorf("broker install: %d nodes; want 1 or 3", in.Nodes)
	}
	if in.Nodes > 1 && in.CookieSecretArn == "" {
		return "", fmt.Errorf("broker install: a %d-node cluster needs the Erlang cookie secret", in.Nodes)
	}
	version, err := ImageVersion(in.Image)
	if err != nil {
		return "", err
	}
	if version != in.RabbitMQVersion {
		return "", fmt.Errorf("broker install: image %s is RabbitMQ %s, not %s", in.Image, version, in.RabbitMQVersion)
	}
	var b strings.Builder
	if err := installTemplate.Execute(&b, in); err != nil {
		return "", err
	}
	return b.String(), nil
}

// UserData compresses a rendered install script as EC2 user data: cloud-init
// reads gzip, and EC2's limit applies to the compressed bytes. The output is
// deterministic (no name, no time), so an unchanged script plans no change.
func UserData(script string) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(script)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if b.Len() > UserDataLimit {
		return nil, fmt.Errorf("broker user data: %d bytes compressed; EC2 takes at most %d", b.Len(), UserDataLimit)
	}
	return b.Bytes(), nil
}

var imagePattern = regexp.MustCompile(`^docker\.io/library/rabbitmq:(4\.\d+\.\d+)-management@sha256:[a-f0-9]{64}$`)

// ImageVersion is the exact RabbitMQ version of a pinned official image
// reference (docker.io/library/rabbitmq:<version>-management@sha256:<digest>).
func ImageVersion(image string) (string, error) {
	m := imagePattern.FindStringSubmatch(image)
	if m == nil {
		return "", fmt.Errorf("broker image %q: want docker.io/library/rabbitmq:4.<minor>.<patch>-management@sha256:<64 hex digits>", image)
	}
	return m[1], nil
}
