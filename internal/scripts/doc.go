// Package scripts runs a module's restart scripts (<module>/bin/prestart,
// start_both, stop_both, poststop) as real processes for farmd.
//
// Each ScriptRun of the core becomes one process in a process group of its
// own, so a Kill action (nice stop timed out) ends the script and everything
// it started. The environment is clean: only the SafeKit variables (SAFE,
// SAFEMODULE, SAFEBIN, SAFEUSERBIN, SAFEVAR, SAFEUSERVAR), every <var> of
// <user>, and a fixed PATH — nothing of farmd's own environment leaks into
// the administrator's scripts. Output goes to the script log
// $SAFEUSERVAR/userlog_<date>.ulog, rotated by size. A script that does not
// exist counts as a success (SafeKit modules often ship only some of them).
package scripts
