package control

import "github.com/vipfarm/vipfarm/internal/view"

// Request is one farmctl call.
type Request struct {
	Verb     string `json:"verb"`               // start|stop|restart|stopstart|state|boot|status|printi|printe|log|get|set|modules
	Module   string `json:"module,omitempty"`   // -m
	Ident    string `json:"ident,omitempty"`    // -i: who asked (scripts, checkers); counts toward maxloop
	Resource string `json:"resource,omitempty"` // -r
	Value    string `json:"value,omitempty"`    // -v, boot on|off
	Message  string `json:"message,omitempty"`  // printi/printe
	Lines    int    `json:"lines,omitempty"`    // log -s N
}

// Response is farmd's answer.
type Response struct {
	OK      bool          `json:"ok"`
	Error   string        `json:"error,omitempty"`
	Module  *view.Module  `json:"module,omitempty"`  // state, get
	Modules []view.Module `json:"modules,omitempty"` // status
	Lines   []string      `json:"lines,omitempty"`   // log
	Value   string        `json:"value,omitempty"`   // get: the resource's value
}

// MaxRequestBytes bounds a request so a stuck or hostile client cannot make
// farmd buffer without limit.
const MaxRequestBytes = 64 << 10
