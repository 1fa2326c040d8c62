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

// TestPlanExplainsUnknownsAndSourceOnly (issue 31): plan says why EST PARTITIONS is unknown (no
// system.size_estimates yet, and what to do), and, when no sampled partition exists in the
// destination, that they are all source-only (a first copy: nothing to merge) rather than a bare
// "0 on both sides".
func TestPlanExplainsUnknownsAndSourceOnly(t *testing.T) {
	r := &forklift.PlanReport{Tables: []forklift.TablePlan{{Table: "island.t", Destination: "global.t", Resolver: "lww", Blind: true,
		Ranges: 4, EstPartitions: -1, EstBytes: -1,
		Sample: &forklift.Sample{Partitions: 10, OnBothSides: 0, RowsOnlySource: 12}}}}
	var out bytes.Buffer
	newPlanOutput(r).print(&out)
	got := out.String()
	for _, want := range []string{"size_estimates", "nodetool refreshsizeestimates", "none of the 10 sampled partitions exists in the destination"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan output lacks %q:\n%s", want, got)
		}
	}
}
