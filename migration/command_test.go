package migration

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Command refuses a command line it cannot run before it contacts any cluster.
func TestCommandUsage(t *testing.T) {
	noConnect := func(context.Context) (*gocql.Session, error) {
		t.Fatal("connected for a command line that cannot run")
		return nil, nil
	}
	for _, args := range [][]string{
		{},
		{"status"},
		{"status", "a", "b"},
		{"set", "m"},
		{"set", "m", "both"},
		{"set", "m", "dual", "-o", "yaml"},
		{"set", "m", "dual", "--wait", "soon"},
		{"flip", "m"},
	} {
		var out bytes.Buffer
		if err := Command(context.Background(), args, &out, noConnect); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want ErrUsage", args, err)
		}
	}
	var out bytes.Buffer
	if err := Command(context.Background(), []string{"help"}, &out, noConnect); err != nil || !strings.Contains(out.String(), "--wait") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

// Flags may follow the positional arguments, as operators type them.
func TestCommandInterleavedFlags(t *testing.T) {
	connected := errors.New("connected")
	var out bytes.Buffer
	err := Command(context.Background(), []string{"set", "m", "dual", "--wait", "2m", "--force", "-o", "json"}, &out,
		func(context.Context) (*gocql.Session, error) { return nil, connected })
	if !errors.Is(err, connected) {
		t.Fatalf("a well-formed set did not get to connect: %v", err)
	}
}

// status prints the live instances and, apart, the stale ones, marking those behind the epoch.
func TestPrintFleet(t *testing.T) {
	now := time.Now()
	f := Fleet{State: State{Name: "profiles", Phase: "dual", Epoch: 4, PreviousPhase: "primary-only", ChangedBy: "ops", ChangedAt: now},
		Live:  []Heartbeat{{Instance: "eu-1", Region: "eu-west-1", Epoch: 4, Phase: "dual", Updated: now}, {Instance: "us-1", Region: "us-east-1", Epoch: 3, Phase: "primary-only", Updated: now}},
		Stale: []Heartbeat{{Instance: "us-2", Region: "us-east-1", Epoch: 3, Phase: "primary-only", Updated: now.Add(-8 * time.Second)}}}
	var out bytes.Buffer
	printFleet(&out, f, 5*time.Second)
	s := out.String()
	for _, want := range []string{"migration profiles: dual, epoch 4", "2 live instances, 1 behind epoch 4", "us-1", "3 (behind)", "stale (no heartbeat for 5s", "us-2"} {
		if !strings.Contains(s, want) {
			t.Errorf("status output lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "us-2") < strings.Index(s, "stale") {
		t.Errorf("the stale instance is listed with the live ones:\n%s", s)
	}
}
