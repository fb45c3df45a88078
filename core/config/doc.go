// Package config reads the administrator's files — cluster.xml and a module's
// userconfig.xml, in SafeKit's farm-module dialect — into one validated,
// fully defaulted model. It is pure: callers hand it bytes and a file name
// (for error messages) and an environment lookup function for %macro%
// fallback; it never touches the file system or the process environment.
//
//	cl, err := config.ParseCluster("cluster.xml", clusterBytes)
//	m, err := config.ParseModule("AM", "AM/conf/userconfig.xml", userBytes, cl, os.LookupEnv)
//	for _, w := range m.Warnings { log(w) }  // SafeKit attributes vipfarm accepts but ignores
//
// Every rejection is an *Error whose text is "file:line: what is wrong",
// naming the element, attribute and offending value; when a file has several
// problems the first by line is reported. The walk is over a small tree read
// with encoding/xml's token stream (xmltree.go), checked element by element
// against the schema (schema.go): unknown elements and attributes are errors,
// as SPEC §2 requires. The failover rule language has its own hand-written
// lexer and recursive-descent parser (rules.go). Defaults live in one place
// (defaults.go).
package config
