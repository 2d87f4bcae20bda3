package broker

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed userdata.sh
var userDataScript string

var userDataTemplate = template.Must(template.New("userdata.sh").Option("missingkey=error").Parse(userDataScript))

// UserData are the values rendered into userdata.sh for one node.
type UserData struct {
	Region             string
	Stack              string
	Nodes              int
	ClusterTag         string
	DataVolumeID       string
	RabbitMQVersion    string
	Vhost              string
	DeliveryLimit      int
	AdminSecretArn     string
	ReceiverSecretArn  string
	ProcessorSecretArn string
	CookieSecretArn    string // empty for a single node
}

// RenderUserData renders the bootstrap script. Every value lands inside
// single quotes, so a value with a quote or a newline is refused.
func RenderUserData(u UserData) (string, error) {
	for name, v := range map[string]string{
		"Region": u.Region, "Stack": u.Stack, "ClusterTag": u.ClusterTag, "DataVolumeID": u.DataVolumeID,
		"RabbitMQVersion": u.RabbitMQVersion, "Vhost": u.Vhost, "AdminSecretArn": u.AdminSecretArn,
		"ReceiverSecretArn": u.ReceiverSecretArn, "ProcessorSecretArn": u.ProcessorSecretArn, "CookieSecretArn": u.CookieSecretArn,
	} {
		if strings.ContainsAny(v, "'\n\\") {
			return "", fmt.Errorf("broker user data: %s %q has a quote, backslash or newline", name, v)
		}
	}
	if u.Nodes > 1 && u.CookieSecretArn == "" {
		return "", fmt.Errorf("broker user data: a %d-node cluster needs the Erlang cookie secret", u.Nodes)
	}
	var b strings.Builder
	if err := userDataTemplate.Execute(&b, u); err != nil {
		return "", err
	}
	return b.String(), nil
}
