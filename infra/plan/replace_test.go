package plan_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

const db = "aws:rds/instance:Instance"

func one(typ string, inputs map[string]any) plan.File {
	return plan.File{Resources: []plan.FileResource{{URN: "urn:pulumi:dev::hookline::" + typ + "::r", Type: typ, Name: "r", Inputs: inputs}}}
}

func diffText(t *testing.T, before, after plan.File) (string, []plan.Change) {
	t.Helper()
	changes := plan.Diff(before, after)
	var buf bytes.Buffer
	if err := plan.WriteDiff(&buf, changes); err != nil {
		t.Fatal(err)
	}
	return buf.String(), changes
}

// A change to a replace-forcing input of a database is a replacement, says
// which input forces it, and opens with a WARNING line; a change to an
// updatable input is only a change.
func TestDiffReplacingAStatefulResourceWarns(t *testing.T) {
	base := map[string]any{"engine": "mysql", "instanceClass": "db.t4g.micro", "storageEncrypted": true}
	moved := map[string]any{"engine": "mariadb", "instanceClass": "db.t4g.small", "storageEncrypted": true}
	out, changes := diffText(t, one(db, base), one(db, moved))
	if len(changes) != 1 || changes[0].Kind != "replaced" || strings.Join(changes[0].Replace, ",") != "engine" {
		t.Fatalf("changes %+v; want one replacement forced by engine", changes)
	}
	if !strings.HasPrefix(out, "WARNING: replaces stateful "+db) || !strings.Contains(out, "forced by engine") {
		t.Errorf("no warning line first:\n%s", out)
	}
	for _, want := range []string{`engine: "mysql" → "mariadb"`, `instanceClass: "db.t4g.micro" → "db.t4g.small"`, "0 added, 0 removed, 1 replaced, 0 changed; 1 warnings"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}

	updated := map[string]any{"engine": "mysql", "instanceClass": "db.t4g.small", "storageEncrypted": true}
	out, changes = diffText(t, one(db, base), one(db, updated))
	if len(changes) != 1 || changes[0].Kind != "changed" || strings.Contains(out, "WARNING") {
		t.Errorf("an in-place class change reads as a replacement:\n%s", out)
	}
}

// A nested replace-forcing input and a conditional one (userData replaces an
// instance only with userDataReplaceOnChange).
func TestDiffNestedAndConditionalRules(t *testing.T) {
	const inst = "aws:ec2/instance:Instance"
	before := one(inst, map[string]any{"userData": "a", "rootBlockDevice": map[string]any{"encrypted": false}})
	after := one(inst, map[string]any{"userData": "b", "rootBlockDevice": map[string]any{"encrypted": true}})
	_, changes := diffText(t, before, after)
	if got := strings.Join(changes[0].Replace, ","); got != "rootBlockDevice.encrypted" {
		t.Errorf("replace forced by %q; want rootBlockDevice.encrypted only (userData updates in place)", got)
	}
	before = one(inst, map[string]any{"userData": "a", "userDataReplaceOnChange": true})
	after = one(inst, map[string]any{"userData": "b", "userDataReplaceOnChange": true})
	if _, changes = diffText(t, before, after); strings.Join(changes[0].Replace, ",") != "userData" {
		t.Errorf("replace forced by %v; want userData with userDataReplaceOnChange", changes[0].Replace)
	}
}

func TestDiffRemovingAStatefulResourceWarns(t *testing.T) {
	out, _ := diffText(t, one("aws:kms/key:Key", nil), plan.File{})
	if !strings.HasPrefix(out, "WARNING: removes stateful aws:kms/key:Key") {
		t.Errorf("removing a KMS key does not warn:\n%s", out)
	}
	out, _ = diffText(t, one("aws:cloudwatch/logGroup:LogGroup", nil), plan.File{})
	if strings.Contains(out, "WARNING") {
		t.Errorf("removing a log group warns:\n%s", out)
	}
}

// Changed inputs are printed, but never a secret: neither a value the plan
// already masked nor one whose key names a credential.
func TestDiffMasksSecrets(t *testing.T) {
	const cache = "aws:elasticache/replicationGroup:ReplicationGroup"
	before := one(cache, map[string]any{"authToken": "old-token-in-clear", "description": "a", "userData": plan.Secret})
	after := one(cache, map[string]any{"authToken": "new-token-in-clear", "description": "b", "userData": "now-plain"})
	out, _ := diffText(t, before, after)
	for _, leak := range []string{"old-token-in-clear", "new-token-in-clear"} {
		if strings.Contains(out, leak) {
			t.Errorf("diff prints a secret %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"authToken: [secret] → [secret]", `description: "a" → "b"`, `userData: [secret] → "now-plain"`} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
}

// The check has teeth: a stateful type the table does not know is reported.
func TestMissingReplaceEntriesCatchesAnUntabledStatefulType(t *testing.T) {
	f := one("aws:mq/broker:Broker", nil)
	f.Resources = append(f.Resources, one(db, nil).Resources...)
	f.Resources = append(f.Resources, one("aws:mq/configuration:Configuration", nil).Resources...)
	if got := plan.MissingReplaceEntries(f); strings.Join(got, ",") != "aws:mq/broker:Broker" {
		t.Errorf("MissingReplaceEntries = %v; want [aws:mq/broker:Broker]", got)
	}
}

// Every stateful type the program declares, in both stacks, has an entry in
// the replace table, so the plan diff can say when it is replaced. Adding a
// stateful type fails here until its replace-forcing inputs are tabled.
func TestStatefulTypesInPlanHaveReplaceEntries(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev", "prod"} {
		t.Run(name, func(t *testing.T) {
			res, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: name})
			if err != nil {
				t.Fatal(err)
			}
			f := res.File()
			stateful := 0
			for _, r := range f.Resources {
				if plan.Stateful(r.Type) {
					stateful++
				}
			}
			if stateful < 4 { // database, cache, broker instance and volume, KMS keys at least
				t.Fatalf("only %d stateful resources in the %s plan: the classification is broken", stateful, name)
			}
			if missing := plan.MissingReplaceEntries(f); len(missing) > 0 {
				t.Errorf("stateful types without a replace-forcing-inputs entry in plan.ReplaceOn: %v", missing)
			}
		})
	}
}
