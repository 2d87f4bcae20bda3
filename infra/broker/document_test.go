package broker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker"
)

// The SSM document runs the script as given, with bash, whatever lines it
// holds (aws:runShellScript runs its lines with sh).
func TestDocumentCarriesTheScript(t *testing.T) {
	script := "#!/bin/bash\nset -euo pipefail\necho \"$HOME\" 'single' \\\n  next\n"
	content, err := broker.Document(script)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion string
		MainSteps     []struct {
			Action string
			Inputs struct{ RunCommand []string }
		}
	}
	if err := json.Unmarshal([]byte(content), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != "2.2" || len(doc.MainSteps) != 1 || doc.MainSteps[0].Action != "aws:runShellScript" {
		t.Fatalf("document %s", content)
	}
	lines := doc.MainSteps[0].Inputs.RunCommand
	if lines[0] != "cat >/run/hookline-broker-configure.sh <<'HOOKLINE_SCRIPT'" || lines[len(lines)-1] != "exec bash /run/hookline-broker-configure.sh" {
		t.Errorf("document does not write then exec the script: %q … %q", lines[0], lines[len(lines)-1])
	}
	if got := strings.Join(lines[1:len(lines)-2], "\n") + "\n"; got != script {
		t.Errorf("script in the document:\n%s\nwant:\n%s", got, script)
	}
	if _, err := broker.Document("a\nHOOKLINE_SCRIPT\nb"); err == nil {
		t.Error("a script holding the terminator was wrapped")
	}
}
