package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"sigs.k8s.io/yaml"
)

// SecretKeys are the config keys that hold operator-set secrets.
var SecretKeys = []string{
	Namespace + ":cacheAuthToken",
	Namespace + ":brokerAdminPassword",
	Namespace + ":brokerReceiverPassword",
	Namespace + ":brokerProcessorPassword",
	Namespace + ":brokerCollectorPassword",
	Namespace + ":brokerAdminPasswordB",
	Namespace + ":brokerReceiverPasswordB",
	Namespace + ":brokerProcessorPasswordB",
	Namespace + ":brokerCollectorPasswordB",
	Namespace + ":brokerErlangCookie",
	Namespace + ":webhookSources",
	Namespace + ":databaseProcessorPassword",
	Namespace + ":originSecrets",
	Namespace + ":canarySecret",
}

// SampleSourcesPath is the sample sources document of a stack
// (examples/sources.<stack>.yaml), which the offline plan and the tests use
// when hookline:webhookSources is not in clear.
func SampleSourcesPath(root, stack string) string {
	return filepath.Join(root, "examples", "sources."+stack+".yaml")
}

// StackFile is a Pulumi.<stack>.yaml read without the Pulumi CLI: plain
// values as Pulumi hands them to a program (objects and lists as JSON), and
// the keys whose values are encrypted (`secure:`), which cannot be read offline.
type StackFile struct {
	Values map[string]string
	Secure []string
}

// ReadStackFile reads root/Pulumi.<stack>.yaml.
func ReadStackFile(root, stack string) (StackFile, error) {
	path := filepath.Join(root, "Pulumi."+stack+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return StackFile{}, err
	}
	var doc struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return StackFile{}, fmt.Errorf("%s: %w", path, err)
	}
	sf := StackFile{Values: map[string]string{}}
	for k, v := range doc.Config {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			if _, secure := m["secure"]; secure {
				sf.Secure = append(sf.Secure, k)
				continue
			}
		}
		switch x := v.(type) {
		case string:
			sf.Values[k] = x
		case bool:
			sf.Values[k] = strconv.FormatBool(x)
		case float64:
			sf.Values[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return StackFile{}, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			sf.Values[k] = string(b)
		}
	}
	return sf, nil
}

// FindRoot walks up from dir to the directory holding Pulumi.yaml.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no Pulumi.yaml above %s", dir)
		}
		dir = parent
	}
}
