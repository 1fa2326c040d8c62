package forklift

import (
	"errors"
	"testing"
)

// The migration key parses (unknown keys are errors, so a misspelt one is caught) and leaves the
// control cluster to default to the destination's.
func TestMigrationConfigYAML(t *testing.T) {
	cfg, err := ParseConfig([]byte("source: {hosts: [a]}\ndestination: {hosts: [b]}\nmigration: {name: profiles, keyspace: ctl}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Migration.Name != "profiles" || cfg.Migration.Keyspace != "ctl" || len(cfg.Migration.Control.Hosts) != 0 {
		t.Fatalf("migration %+v", cfg.Migration)
	}
	if _, err := ParseConfig([]byte("migration: {nme: profiles}\n")); !errors.Is(err, ErrConfig) {
		t.Fatalf("misspelt migration key: %v, want ErrConfig", err)
	}
}
