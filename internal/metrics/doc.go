// Package metrics holds farmd's Prometheus collectors on a registry of its
// own (never the global one), so tests can build several daemons in one
// process and /metrics shows only vipfarm's series plus the Go runtime's.
package metrics
