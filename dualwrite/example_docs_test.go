package dualwrite_test

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/globalcloud/islands/cqlconn"
	"github.com/globalcloud/islands/dualwrite"
)

// Examples shown in docs/*.md (docs/readme_test.go keeps each page's snippet identical to them).

// A session that is one instance of a fleet whose phase the operator sets in the control keyspace
// (`islands migration set`), as docs/migration.md shows it.
func ExampleWithMigration() {
	ctx := context.Background()
	island, global := gocql.NewCluster("10.0.1.1"), gocql.NewCluster("10.0.2.1")
	control := gocql.NewCluster("10.0.2.1") // the global cluster, local datacenter
	session, err := dualwrite.Open(ctx, island, global,
		dualwrite.WithReplayDir("/var/lib/app/dualwrite"),
		dualwrite.WithMigration(control, "profiles", os.Getenv("POD_NAME"),
			dualwrite.MigrationStateFile("/var/lib/app/dualwrite-phase")), // optional: start in the last phase if the control keyspace is down
		dualwrite.WithRegisterer(prometheus.DefaultRegisterer))
	if errors.Is(err, dualwrite.ErrMigrationUnknown) {
		log.Fatal(err) // the phase could not be read and no state file knows an earlier one
	}
	defer session.Close()
}

// Secured clusters: the cluster configs built with cqlconn (password and CA from files), as
// docs/security.md shows it.
func ExampleOpen_secured() {
	ctx := context.Background()
	access := cqlconn.Access{Username: "app", PasswordFile: "/run/secrets/app",
		TLS: cqlconn.TLS{CAFile: "/etc/islands/ca.pem"}}
	island, err := access.Cluster("10.1.1.10") // reads the password and the CA now
	if err != nil {
		log.Fatal(err) // names the missing file, never the password
	}
	island.Keyspace = "island"
	global, err := access.Cluster("10.2.1.10")
	if err != nil {
		log.Fatal(err)
	}
	global.Keyspace = "global"
	dw, err := dualwrite.Open(ctx, island, global, dualwrite.WithReplayDir("/var/lib/app/replay"))
	if errors.Is(err, cqlconn.ErrPermission) {
		log.Fatal(err) // names the GRANT the app's role needs
	}
	defer dw.Close()
}

// A fleet instance whose backlog survives the loss of the instance (docs/dualwrite.md, hand-off).
func ExampleWithHandoff() {
	ctx := context.Background()
	island, global := gocql.NewCluster("10.0.1.1"), gocql.NewCluster("10.0.2.1")
	control := gocql.NewCluster("10.0.2.1")
	session, err := dualwrite.Open(ctx, island, global,
		dualwrite.WithReplayDir("/var/lib/app/dualwrite"),
		dualwrite.WithMigration(control, "profiles", os.Getenv("POD_NAME")),
		dualwrite.WithHandoff()) // defaults: HandoffCopyAfter(2s), HandoffDrain(5s, 30s), HandoffLease(15s)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
}
