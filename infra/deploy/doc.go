// Package deploy has no code: its tests run scripts/deploy.sh and
// scripts/image.sh (`make deploy`, `make image`) against fake pulumi, aws,
// make and go executables that record their arguments, and check the order
// of the steps without AWS.
package deploy
