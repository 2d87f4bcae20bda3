// Package e2e holds the processor's end-to-end tests and benchmarks: real
// RabbitMQ, Redis and MariaDB (each test in its own vhost, database and key
// prefix, see internal/testenv), faults injected with a TCP proxy, and one
// test that kills a whole processor process.
package e2e
