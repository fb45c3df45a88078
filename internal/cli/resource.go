package cli

import (
	"fmt"

	"github.com/vipfarm/vipfarm/internal/control"
	"github.com/vipfarm/vipfarm/internal/view"
)

func init() {
	register("get", "get [-m MODULE] -r RESOURCE", get)
	register("set", "set [-m MODULE] -r RESOURCE -v up|down [-i ID]", set)
}

func get(e *env, args []string) error {
	fs := e.flags("get")
	res := fs.String("r", "", "resource, e.g. custom.web")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if *res == "" {
		return usagef("missing -r RESOURCE")
	}
	resp, err := e.call(control.Request{Verb: "get", Resource: *res})
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(map[string]string{"resource": *res, "value": resp.Value})
	}
	fmt.Fprintln(e.stdout, resp.Value)
	return nil
}

func set(e *env, args []string) error {
	fs := e.flags("set")
	res := fs.String("r", "", "resource, e.g. custom.web")
	val := fs.String("v", "", "up or down")
	ident := fs.String("i", "", "who sets it")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if *res == "" {
		return usagef("missing -r RESOURCE")
	}
	if _, err := view.ParseResourceState(*val); err != nil || (*val != "up" && *val != "down") {
		return usagef("-v %q: want up or down", *val)
	}
	_, err := e.call(control.Request{Verb: "set", Resource: *res, Value: *val, Ident: *ident})
	return err
}
