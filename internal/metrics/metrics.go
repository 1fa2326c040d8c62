// Package metrics registers Prometheus collectors so that a second registration of the same
// series (two dualwrite Sessions, two cachesync publishers on one registry) shares the first
// collector instead of panicking (MustRegister) or being silently dropped.
package metrics

import (
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns the collector to use: c itself, or the collector
// already registered with the same descriptors (prometheus.AlreadyRegisteredError), which must be
// of c's type. Any other registration error (same name with other labels or help, a collector of
// another type) is returned. A nil reg registers nothing and returns c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, fmt.Errorf("metrics: %T already registered as a %T: %w", c, are.ExistingCollector, err)
	}
	return c, fmt.Errorf("metrics: registering %T: %w", c, err)
}

// MustRegister is Register for collectors built by the program itself, where an error is a
// programming mistake (two different series under one name): it panics on one.
func MustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	got, err := Register(reg, c)
	if err != nil {
		panic(err)
	}
	return got
}

// LoopbackOnly reports whether addr (host:port), where a program serves /metrics, listens on this
// machine only: a loopback IP or localhost. ":9100" (every interface) and a routable address are
// not. Programs warn when their metrics address is not.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
