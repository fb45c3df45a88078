// Package api is farmd's HTTP server on the admin port (default 9010):
//
//	GET  /var/modules/<AM>/ready.txt          200 "OK" when UP ready, else 404 "NOT FOUND" (cloud health checks)
//	GET  /api/v1/modules                      every module's snapshot (JSON)
//	GET  /api/v1/modules/<AM>                 one module: state, ready, rule, resources, shares, peers, counters
//	POST /api/v1/modules/<AM>/{start,stop,restart,stopstart}   with Authorization: Bearer <admin token>
//	GET  /metrics                             Prometheus
//
// Reads are open (a health checker has no secret); every call that changes
// something needs the admin token, compared in constant time. The server
// holds no state: each request is a message to the module's goroutine
// through view.Farm.
package api
