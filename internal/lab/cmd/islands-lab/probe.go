package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// probe sends one real request to a service and exits 0 only if it answered:
//
//	islands-lab probe cql 127.0.5.1:9042        SELECT release_version FROM system.local
//	islands-lab probe memcached 127.0.5.1:11211 a set and a get of a probe key
//	islands-lab probe peer 127.0.5.1:9042 127.0.16.1  the node knows that peer, with the same schema
//	islands-lab probe closed 127.0.5.1:9042      the node refuses cassandra/cassandra for its credentials
//
// scripts/regions uses it to wait until a service is really serving, not merely listening. CQL
// probes log in as the world's admin over TLS (the ISLANDS_CQL_* variables, cqlconn.FromEnv); with
// -bootstrap, a node that refuses the admin is tried as the default superuser, which a new cluster
// has until islands-lab roles replaced it.
func probe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "how long the one request may take")
	bootstrap := fs.Bool("bootstrap", false, "if the admin is refused, try the default superuser (a cluster islands-lab roles has not set up yet)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 3 && fs.Arg(0) == "peer" {
		return probePeer(ctx, fs.Arg(1), fs.Arg(2), *timeout, *bootstrap, stdout)
	}
	if fs.NArg() != 2 {
		return errors.New("usage: islands-lab probe cql|memcached|closed HOST:PORT, or probe peer HOST:PORT PEER")
	}
	kind, addr := fs.Arg(0), fs.Arg(1)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	switch kind {
	case "cql":
		s, err := dialAdmin(addr, *timeout, *bootstrap)
		if err != nil {
			return fmt.Errorf("probe cql %s: %w", addr, err)
		}
		defer s.Close()
		var version string
		if err := s.Query("SELECT release_version FROM system.local").WithContext(ctx).Scan(&version); err != nil {
			return fmt.Errorf("probe cql %s: %w", addr, err)
		}
		fmt.Fprintf(stdout, "cassandra %s at %s\n", version, addr)
	case "memcached":
		c := memcache.New(addr)
		c.Timeout = *timeout
		if err := c.Set(&memcache.Item{Key: "islands:probe", Value: []byte("ok"), Expiration: 10}); err != nil {
			return fmt.Errorf("probe memcached %s: %w", addr, err)
		}
		if _, err := c.Get("islands:probe"); err != nil {
			return fmt.Errorf("probe memcached %s: %w", addr, err)
		}
		fmt.Fprintf(stdout, "memcached at %s\n", addr)
	case "closed":
		return probeClosed(addr, *timeout, stdout)
	default:
		return fmt.Errorf("probe: unknown service kind %q (want cql, memcached or closed)", kind)
	}
	return nil
}

// probePeer succeeds when the Cassandra node at addr lists peer (its broadcast address) in
// system.peers_v2 with the node's own schema version: gossip has crossed between the two.
func probePeer(ctx context.Context, addr, peer string, timeout time.Duration, bootstrap bool, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := dialAdmin(addr, timeout, bootstrap)
	if err != nil {
		return fmt.Errorf("probe peer %s: %w", addr, err)
	}
	defer s.Close()
	var local gocql.UUID
	if err := s.Query("SELECT schema_version FROM system.local").WithContext(ctx).Scan(&local); err != nil {
		return fmt.Errorf("probe peer %s: %w", addr, err)
	}
	var theirs gocql.UUID
	if err := s.Query("SELECT schema_version FROM system.peers_v2 WHERE peer = ?", peer).WithContext(ctx).Scan(&theirs); err != nil {
		return fmt.Errorf("probe peer %s: %s not among its peers: %w", addr, peer, err)
	}
	if theirs != local {
		return fmt.Errorf("probe peer %s: %s has schema %v, the node %v", addr, peer, theirs, local)
	}
	fmt.Fprintf(stdout, "%s knows %s, schema %v\n", addr, peer, local)
	return nil
}

// probeClosed succeeds when the node at addr refuses the default superuser's well-known
// credentials as wrong (over the admin's TLS). A login is asked of that node alone, and it reads
// the role from its own replicas, so each node is probed: one that still holds an open default
// role lets cassandra/cassandra in although another refuses it. A node that cannot tell (it cannot
// read system_auth yet) is not closed either.
func probeClosed(addr string, timeout time.Duration, stdout io.Writer) error {
	a, err := cqlconn.FromEnv(cqlconn.RoleAdmin)
	if err != nil {
		return err
	}
	def := asDefaultSuperuser(a)
	s, err := dialCQL(addr, def, timeout)
	if err == nil {
		s.Close()
		return fmt.Errorf("probe closed %s: %s/%s logs in: the default superuser is open", addr, defaultSuperuser, defaultSuperuser)
	}
	if !errors.Is(err, cqlconn.ErrBadCredentials) {
		return fmt.Errorf("probe closed %s: cannot tell whether the default superuser is closed: %w", addr, err)
	}
	fmt.Fprintf(stdout, "%s refuses %s/%s\n", addr, defaultSuperuser, defaultSuperuser)
	return nil
}
