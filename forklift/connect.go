package forklift

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

func parseConsistency(s string) (gocql.Consistency, error) {
	c, err := gocql.ParseConsistencyWrapper(strings.ToUpper(s))
	if err != nil {
		return 0, fmt.Errorf("unknown consistency %q (ONE, LOCAL_ONE, QUORUM, LOCAL_QUORUM, ALL…)", s)
	}
	return c, nil
}

// gocqlCluster turns a ClusterConfig into gocql's: token-aware routing (DC-aware when LocalDC is
// set), so each partition's reads and writes go straight to a replica.
func gocqlCluster(cc ClusterConfig) (*gocql.ClusterConfig, error) {
	c := gocql.NewCluster(cc.Hosts...)
	cons, err := parseConsistency(cc.Consistency)
	if err != nil {
		return nil, err
	}
	c.Consistency = cons
	c.Timeout = cc.Timeout
	c.ConnectTimeout = cc.ConnectTimeout
	c.NumConns = cc.Connections
	c.DisableInitialHostLookup = cc.DisableHostLookup
	// Retries are forklift's own (retry.go), with backoff; gocql's would retry without waiting.
	c.RetryPolicy = nil
	if cc.LocalDC != "" {
		c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(cc.LocalDC))
	} else {
		c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	if err := cc.Access.Apply(c); err != nil {
		return nil, err
	}
	return c, nil
}

// connect opens a session to one side; which names it in the error ("source", "destination").
func connect(which string, cc ClusterConfig) (*gocql.Session, error) {
	c, err := gocqlCluster(cc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, which, err)
	}
	s, err := c.CreateSession()
	if err != nil {
		var access *cqlconn.Error
		if err = cqlconn.Explain(err, cc.Access, cc.Hosts...); errors.As(err, &access) {
			return nil, fmt.Errorf("%w: %s %v (%s): %w", ErrAccess, which, cc.Hosts, cc.Access.Describe(), err)
		}
		return nil, fmt.Errorf("%w: %s %v: %v (check %s.hosts and that the cluster is up)", ErrUnreachable, which, cc.Hosts, err, which)
	}
	if err := checkLocalDC(which, cc, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
