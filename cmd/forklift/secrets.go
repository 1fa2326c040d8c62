package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/globalcloud/islands/forklift"
)

// refusePasswordFlags refuses a password given on the command line, which every user of the
// machine can read in ps, before the flag package could echo it in an error. The message never
// includes the value. Every argument is looked at, those after "--" too: forklift takes no
// positional argument, so whatever follows "--" is a mistake that must not reach an error text.
// A password typed into any other flag (a boolean one, an unknown one) is refuseUnsafeValues' job.
func refusePasswordFlags(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "source-password" || name == "destination-password") {
			side := strings.TrimSuffix(name, "-password")
			return fmt.Errorf("%w: --%s is not accepted: a password on the command line shows in ps to every user of the machine; "+
				"use --%s-password-file FILE, --%s-password-env VAR, or %s.password_file / %s.password_env in the YAML",
				errUsage, name, side, side, side, side)
		}
	}
	return nil
}

// refuseUnsafeValues looks at the flags in args before the flag package does, since the flag
// package echoes a value it refuses (and the name of a flag it does not know, which is everything
// before "=") in its error and on stderr. A value given to a boolean flag must be one
// strconv.ParseBool accepts, else it is refused without being shown: anything else may be a
// password typed into the wrong flag (--source-insecure-password=PW), and reading it loosely
// (fmt.Sscan: "t…" is true) would turn an insecure switch on. An unknown flag is named only when
// its name looks like one ([a-z0-9-], at most 40 characters). Every other flag's value is set here
// first (Set: what parse does next, with the same values in the same order, so nothing changes),
// and one it refuses (a number, a duration, a list, a shard) is reported without the value or the
// parser's error, which quotes it. Like the flag package, it stops at
// "--" or the first non-flag argument (parse refuses those without showing them).
func refuseUnsafeValues(fs *flag.FlagSet, boolFlags map[string]bool, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return nil
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name == "help" || name == "h" {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			if looksLikeFlagName(name) {
				return fmt.Errorf("%w: unknown flag --%s (see forklift help)", errUsage, name)
			}
			return fmt.Errorf("%w: argument %d is an unknown flag (not shown: it may hold a secret); see forklift help", errUsage, i+1)
		}
		bf, isBoolFlag := f.Value.(interface{ IsBoolFlag() bool })
		if isBoolFlag && bf.IsBoolFlag() {
			// --create-table alone means true; a following word is a positional argument.
			if hasVal && !isBool(val) {
				return fmt.Errorf("%w: --%s takes true or false (the value given is not shown: it may be a secret)", errUsage, name)
			}
			continue
		}
		if !hasVal {
			i++ // the next argument is this flag's value
			if i < len(args) {
				val = args[i]
			}
		}
		if boolFlags[name] && !isBool(val) { // a config-key flag taking true or false
			return fmt.Errorf("%w: --%s takes true or false (the value given is not shown: it may be a secret)", errUsage, name)
		}
		if (hasVal || i < len(args)) && f.Value.Set(val) != nil {
			return fmt.Errorf("%w: --%s: invalid value (not shown: it may be a secret); it takes: %s", errUsage, name, f.Usage)
		}
	}
	return nil
}

// isBool reports whether v is a boolean strconv.ParseBool accepts.
func isBool(v string) bool {
	_, err := strconv.ParseBool(v)
	return err == nil
}

// looksLikeFlagName reports whether s can be shown as a flag's name: short, lower case, digits and
// dashes only; anything else may be a value typed in its place.
func looksLikeFlagName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// exposedPasswords warns when the YAML file holds a literal password and others may read it.
func exposedPasswords(path string, cfg forklift.Config) []string {
	if !cfg.Source.Password.IsSet() && !cfg.Destination.Password.IsSet() {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s holds a password and is readable by others (mode %v): chmod 600 %s, or use password_file / password_env",
		path, fi.Mode().Perm(), path)}
}
