package stack_test

import (
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// A bad config stops the program before it declares anything, with the
// validation's one line (the config package's tests cover each rule).
func TestBadConfigDeclaresNothing(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  plan.Options
		want string
	}{
		{"bad CIDR", plan.Options{Stack: "dev", Override: map[string]string{"hookline:network": `{"cidr":"10.20.0.0/33","azs":["us-east-1a","us-east-1b"]}`}}, "hookline:network.cidr:"},
		{"too few AZs", plan.Options{Stack: "prod", Override: map[string]string{"hookline:network": `{"cidr":"10.30.0.0/16","azs":["us-east-1a","us-east-1b"]}`}}, "hookline:network.azs:"},
		{"unknown engine", plan.Options{Stack: "dev", Override: map[string]string{"hookline:database": `{"engine":"oracle"}`}}, "hookline:database.engine:"},
		{"missing secret", plan.Options{Stack: "dev", Omit: []string{"hookline:cacheAuthToken"}}, "hookline:cacheAuthToken:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Root = root
			r, err := plan.Run(stack.Program, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v; want one naming %s", err, tc.want)
			}
			if r != nil && len(r.Resources) != 0 {
				t.Errorf("%d resources declared before the config error; want none", len(r.Resources))
			}
		})
	}
}
