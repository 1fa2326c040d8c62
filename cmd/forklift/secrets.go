package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/globalcloud/islands/forklift"
)

// refusePasswordFlags refuses a password given on the command line, which every user of the
// machine can read in ps, before the flag package could echo it in an error. The message never
// includes the value. Every argument is looked at, those after "--" too: forklift takes no
// positional argument, so whatever follows "--" is a mistake that must not reach an error text.
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
