// Package transport carries one module's heartbeats over UDP on every LAN
// of its <farm>. Each LAN gets one socket bound to this node's address on
// that LAN (so a heartbeat leaves by the LAN it claims to use) and the
// module's port; a heartbeat is sent by unicast to every peer's address on
// the LAN. Received datagrams are authenticated and decoded by the core's
// codec; whatever the codec or the checks here reject is counted per LAN and
// reason and never reaches the core.
package transport
