package cqlconn

import (
	"fmt"
	"os"
	"strings"
)

// Role is one of the local world's Cassandra roles, each a program's.
type Role string

// The roles scripts/regions creates in every cluster of the local world.
const (
	// RoleAdmin is a superuser: the scripts and the tests' schema changes.
	RoleAdmin Role = "ADMIN"
	// RoleApp is an application's: SELECT and MODIFY on the keyspaces granted to it, nothing else.
	RoleApp Role = "APP"
	// RoleForklift is forklift's: SELECT on the sources, MODIFY on the destinations and its
	// checkpoint keyspace, as granted per run.
	RoleForklift Role = "FORKLIFT"
)

// FromEnv returns the Access of role r in the local world, from the variables
// `scripts/regions env` prints:
//
//	ISLANDS_CQL_CA                   PEM file of the world's CA (TLS on when set)
//	ISLANDS_CQL_<ROLE>_USER          the role's user name
//	ISLANDS_CQL_<ROLE>_PASSWORD_FILE a file holding its password, or
//	ISLANDS_CQL_<ROLE>_PASSWORD      the password itself
//
// With none of them set (a world started with ISLANDS_SECURE=0) it returns the zero Access: plain
// text, no credentials. A user without a password is an error naming the missing variable.
func FromEnv(r Role) (Access, error) { return fromLookup(r, os.LookupEnv) }

// MustFromEnv is FromEnv for programs and tests that cannot go on without it: it panics with the
// error, which names the variable.
func MustFromEnv(r Role) Access {
	a, err := FromEnv(r)
	if err != nil {
		panic(err)
	}
	return a
}

func fromLookup(r Role, lookup func(string) (string, bool)) (Access, error) {
	get := func(name string) string { v, _ := lookup(name); return strings.TrimSpace(v) }
	p := "ISLANDS_CQL_" + string(r) + "_"
	var a Access
	a.Username = get(p + "USER")
	if f := get(p + "PASSWORD_FILE"); f != "" {
		a.PasswordFile = f
	} else if _, ok := lookup(p + "PASSWORD"); ok {
		a.PasswordEnv = p + "PASSWORD"
	}
	if a.Username == "" && (a.PasswordFile != "" || a.PasswordEnv != "") {
		return Access{}, fmt.Errorf("%w: %sPASSWORD(_FILE) is set but %sUSER is not", ErrAccess, p, p)
	}
	if a.Username != "" && a.PasswordFile == "" && a.PasswordEnv == "" {
		return Access{}, fmt.Errorf("%w: %sUSER is set but neither %sPASSWORD_FILE nor %sPASSWORD is (eval \"$(scripts/regions env)\")", ErrAccess, p, p, p)
	}
	if ca := get("ISLANDS_CQL_CA"); ca != "" {
		a.TLS = TLS{Enabled: true, CAFile: ca}
	}
	return a, nil
}
