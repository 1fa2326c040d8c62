package dualwrite

import (
	"context"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// accessOf describes how c authenticates, for cqlconn.Explain and CheckGrants: its user name
// and whether it speaks TLS. The password stays in c.
func accessOf(c *gocql.ClusterConfig) cqlconn.Access {
	var a cqlconn.Access
	switch auth := c.Authenticator.(type) {
	case gocql.PasswordAuthenticator:
		a.Username, a.Password = auth.Username, cqlconn.NewSecret(auth.Password)
	case *gocql.PasswordAuthenticator:
		a.Username, a.Password = auth.Username, cqlconn.NewSecret(auth.Password)
	}
	if c.SslOpts != nil {
		a.TLS.Enabled = true
		a.TLS.InsecureSkipVerify = !c.SslOpts.EnableHostVerification && (c.SslOpts.Config == nil || c.SslOpts.Config.InsecureSkipVerify)
	}
	return a
}

// checkSide refuses a side whose role cannot write or read the keyspace its config names, before
// any write: a dual write that the follower refuses for want of a permission would otherwise be
// acknowledged on one side only and dead-lettered on the other.
func checkSide(ctx context.Context, sd side, sess *gocql.Session, c *gocql.ClusterConfig) error {
	if c.Keyspace == "" {
		return nil
	}
	a := accessOf(c)
	why := fmt.Sprintf("the %s side's keyspace", sd)
	err := cqlconn.CheckGrants(ctx, sess, a,
		cqlconn.Need{Permission: "MODIFY", Keyspace: c.Keyspace, Why: why},
		cqlconn.Need{Permission: "SELECT", Keyspace: c.Keyspace, Why: why})
	if err != nil {
		return fmt.Errorf("dualwrite: the %s side: %w", sd, err)
	}
	return nil
}
