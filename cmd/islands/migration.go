package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/migration"
)

// migrationCmd runs `islands migration status|set` (package migration) against the control
// cluster at $ISLANDS_CONTROL_CQL (default the global cluster's us-east-1 node,
// $ISLANDS_GLOBAL_US_CQL) as the world's admin role.
func migrationCmd(ctx context.Context, args []string, stdout io.Writer) error {
	return migration.Command(ctx, args, stdout, func(ctx context.Context) (*gocql.Session, error) {
		addr := os.Getenv("ISLANDS_CONTROL_CQL")
		if addr == "" {
			addr = os.Getenv("ISLANDS_GLOBAL_US_CQL")
		}
		if addr == "" {
			return nil, fmt.Errorf("migration: no control cluster: set ISLANDS_CONTROL_CQL (or eval \"$(scripts/regions env)\")")
		}
		return dialControl(strings.Split(addr, ","))
	})
}

// dialControl connects to the control cluster as the role ISLANDS_CQL_ADMIN_* names (nothing on a
// cluster without authentication), with TLS by ISLANDS_CQL_CA (cqlconn.FromEnv's contract).
func dialControl(hosts []string) (*gocql.Session, error) {
	a, err := cqlconn.FromEnv(cqlconn.RoleAdmin)
	if err != nil {
		return nil, err
	}
	c, err := a.Cluster(hosts...)
	if err != nil {
		return nil, err
	}
	c.Timeout, c.ConnectTimeout = 10*time.Second, 10*time.Second
	s, err := c.CreateSession()
	if err != nil {
		return nil, cqlconn.Explain(err, a, hosts...)
	}
	return s, nil
}
