package bootstrap_test

import (
	"os"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hookline/hookline/infra/broker/bootstrap"
)

// compose.yaml is what `make test` and `make local` run where a Docker engine
// runs: every image pinned by digest, and the broker the image production's
// nodes run, so a local run on Docker tests against production's RabbitMQ.
func TestComposeImagesPinned(t *testing.T) {
	raw, err := os.ReadFile("../../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image string `json:"image"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	// scripts/services.sh starts each service by these names.
	for _, name := range []string{"redis-server", "mariadb", "rabbitmq-server"} {
		if _, ok := doc.Services[name]; !ok {
			t.Errorf("compose.yaml has no service %q, which scripts/services.sh starts", name)
		}
	}
	for name, svc := range doc.Services {
		if err := pinnedImage(svc.Image); err != "" {
			t.Errorf("compose.yaml service %s: %s", name, err)
		}
	}
	if got := doc.Services["rabbitmq-server"].Image; got != bootstrap.DefaultImage {
		t.Errorf("compose.yaml rabbitmq-server image = %q, want production's %q", got, bootstrap.DefaultImage)
	}
}

var pinned = regexp.MustCompile(`^docker\.io/library/[a-z0-9-]+:[0-9][0-9.]*[0-9](-[a-z]+)?@sha256:[0-9a-f]{64}$`)

func pinnedImage(image string) string {
	if !pinned.MatchString(image) {
		return "image " + `"` + image + `"` + " is not docker.io/library/<name>:<exact version>@sha256:<digest>"
	}
	return ""
}

func TestPinnedImageRefusesFloatingTags(t *testing.T) {
	for _, image := range []string{
		"redis:7.2.16",
		"docker.io/library/redis:7@sha256:" + "0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c"[:63],
		"docker.io/library/redis:latest@sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c",
		"docker.io/library/mariadb:10.11.19",
	} {
		if pinnedImage(image) == "" {
			t.Errorf("pinnedImage(%q) accepted a floating or unpinned image", image)
		}
	}
	if msg := pinnedImage("docker.io/library/redis:7.2.16@sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c"); msg != "" {
		t.Errorf("a pinned image refused: %s", msg)
	}
}
