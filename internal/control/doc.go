// Package control is farmd's local control socket and the client farmctl
// uses: one JSON request and one JSON response per connection over a Unix
// socket that only root (or farmd's own user) may open — the socket file is
// mode 0600 and every peer's credentials are checked with SO_PEERCRED, so a
// permissive umask or a moved socket does not open the door.
//
// Requests name a verb (start, stop, state, set, ...), a module, and the
// verb's arguments; the server turns them into calls on view.Farm, which
// reach the module goroutines as messages.
package control
