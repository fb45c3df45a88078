// Package config reads the administrator's files — cluster.xml and a module's
// userconfig.xml, in SafeKit's farm-module dialect — into one validated,
// fully defaulted model. It is pure: callers hand it bytes and a file name
// (for error messages) and an environment lookup function for %macro%
// fallback; it never touches the file system or the process environment.
package config
