package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/globalcloud/islands/forklift"
)

// TestUnknownResolverExits2 (issue 31): an unknown resolver, or a resolver's bad option, is a
// configuration error like any other: exit 2 (as the README says), named, before any cluster is
// contacted (the hosts here answer nothing).
func TestUnknownResolverExits2(t *testing.T) {
	dir := t.TempDir()
	for name, tables := range map[string]string{
		"unknown resolver":         "tables: [{keyspace: ks, table: t, resolver: no-such-resolver}]\n",
		"unknown default":          "keyspaces: [ks]\ndefault_resolver: lwww\n",
		"newest-by without column": "tables: [{keyspace: ks, table: t, resolver: newest-by}]\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		body := "source: {hosts: [\"127.0.0.1:1\"]}\ndestination: {hosts: [\"127.0.0.1:1\"]}\n" + tables
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), []string{"plan", "--config", p}, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "resolver") || strings.Contains(stderr.String(), "127.0.0.1:1") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming the resolver, before connecting", name, code, stderr.String())
		}
	}
	cfg := forklift.Config{Source: forklift.ClusterConfig{Hosts: []string{"a"}}, Destination: forklift.ClusterConfig{Hosts: []string{"b"}},
		Tables: []forklift.TableConfig{{Keyspace: "ks", Table: "t", Resolver: "nope"}}}
	if err := cfg.Validate(); !errors.Is(err, forklift.ErrConfig) || !errors.Is(err, forklift.ErrUnknownResolver) {
		t.Errorf("Validate: %v, want ErrConfig and ErrUnknownResolver", err)
	}
}
