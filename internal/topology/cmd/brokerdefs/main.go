// Command brokerdefs prints hookline's broker definitions document (the
// format `rabbitmqctl import_definitions` reads) for one vhost:
//
//	go run ./internal/topology/cmd/brokerdefs -vhost hookline [-name receiver=NAME ...] [-delivery-limit 20]
//
// It holds no passwords: create the users first (see docs/broker-contract.md).
// With -users it prints the users instead, one "role name tags" line each
// (tags comma-separated, "-" for none; two users per role, credential a and
// b), for scripts that create them. -name sets a role's base name (the b
// user is the base with "-b" appended).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hookline/hookline/internal/topology"
)

type names map[topology.Role]string

func (n names) String() string { return fmt.Sprint(map[topology.Role]string(n)) }

func (n names) Set(s string) error {
	role, name, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want role=name, got %q", s)
	}
	for _, u := range topology.Users() {
		if string(u.Role) == role {
			n[u.Role] = name
			return nil
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

func main() {
	n := names{}
	spec := topology.Spec{Names: n}
	flag.StringVar(&spec.Vhost, "vhost", "hookline", "the vhost")
	flag.IntVar(&spec.DeliveryLimit, "delivery-limit", topology.DeliveryLimit, "delivery limit of the inbound queue")
	flag.Var(n, "name", "role=base user name, repeatable (default: the production names)")
	users := flag.Bool("users", false, "print the users (role name tags) instead of the document")
	flag.Parse()
	if *users {
		for _, u := range topology.Users() {
			name := u.Name
			if n := spec.Names[u.Role]; n != "" {
				name = u.Credential.Login(n)
			}
			tags := strings.Join(u.Tags, ",")
			if tags == "" {
				tags = "-"
			}
			fmt.Printf("%s %s %s\n", u.Role, name, tags)
		}
		return
	}
	doc, err := topology.Definitions(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "brokerdefs:", err)
		os.Exit(2)
	}
	os.Stdout.Write(doc.JSON())
}
