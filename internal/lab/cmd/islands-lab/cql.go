package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// The default superuser every Cassandra cluster with PasswordAuthenticator starts with. islands
// roles logs in with it once, to create islands_admin, then takes its LOGIN and SUPERUSER away.
const defaultSuperuser = "cassandra"

var defaultSuperuserPassword = cqlconn.NewSecret("cassandra")

// dialCQL opens a session to the one node at addr (no discovery of the others) as a says.
func dialCQL(addr string, a cqlconn.Access, timeout time.Duration) (*gocql.Session, error) {
	c := gocql.NewCluster(addr)
	if err := a.Apply(c); err != nil {
		return nil, err
	}
	c.Timeout = timeout
	c.ConnectTimeout = timeout
	c.DisableInitialHostLookup = true
	c.NumConns = 1
	s, err := c.CreateSession()
	if err != nil {
		return nil, cqlconn.Explain(err, a, addr)
	}
	return s, nil
}

// asDefaultSuperuser is a with the default superuser's well-known credentials: same TLS.
func asDefaultSuperuser(a cqlconn.Access) cqlconn.Access {
	return cqlconn.Access{Username: defaultSuperuser, Password: defaultSuperuserPassword, TLS: a.TLS}
}

// dialAdmin opens a session as the world's admin role (cqlconn.FromEnv(RoleAdmin): plain text and
// no credentials on a world started with ISLANDS_SECURE=0). With bootstrap, a cluster that refuses
// the admin's credentials is tried once more as the default superuser: before islands-lab roles has
// run (while scripts/regions up waits for a new cluster) islands_admin does not exist yet.
func dialAdmin(addr string, timeout time.Duration, bootstrap bool) (*gocql.Session, error) {
	a, err := cqlconn.FromEnv(cqlconn.RoleAdmin)
	if err != nil {
		return nil, err
	}
	s, err := dialCQL(addr, a, timeout)
	if err == nil || !bootstrap || a.Username == "" || !authRefused(err) {
		return s, err
	}
	s, err2 := dialCQL(addr, asDefaultSuperuser(a), timeout)
	if err2 != nil {
		return nil, fmt.Errorf("%w (and the default superuser %s was refused too: %v)", err, defaultSuperuser, err2)
	}
	return s, nil
}

// authRefused reports an error of the authentication step: the password refused, or the node
// unable to read the role (on a new global cluster system_auth has one replica, maybe in the other
// DC, so a role that does not exist yet cannot be read at LOCAL_QUORUM: "Unable to perform
// authentication: Cannot achieve consistency level LOCAL_QUORUM").
func authRefused(err error) bool {
	return errors.Is(err, cqlconn.ErrBadCredentials) || strings.Contains(err.Error(), "Unable to perform authentication")
}

// password returns the password a gives the driver, read from its file or variable.
func password(a cqlconn.Access) (string, error) {
	var c gocql.ClusterConfig
	if err := a.Apply(&c); err != nil {
		return "", err
	}
	pa, ok := c.Authenticator.(gocql.PasswordAuthenticator)
	if !ok || pa.Password == "" {
		return "", fmt.Errorf("%w: no password for user %q", cqlconn.ErrAccess, a.Username)
	}
	return pa.Password, nil
}
