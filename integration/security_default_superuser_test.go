package integration

import (
	"errors"
	"os"
	"testing"

	"github.com/globalcloud/islands/cqlconn"
)

// TestSecurityDefaultSuperuserRefusedOnEveryNode: once scripts/regions up has run its roles step,
// the default superuser cassandra/cassandra logs in on no node of either cluster, each node asked
// on its own (a login reads the role from that node's replicas: a row one replica still holds is
// enough for a node whose reads include it). On a new world the global cluster's roles step once
// read the default role at QUORUM right after system_auth became NTS, found nothing, called it
// "already disabled", and every global node then let cassandra/cassandra in as a superuser.
func TestSecurityDefaultSuperuserRefusedOnEveryNode(t *testing.T) {
	needSecured(t)
	admin := cqlconn.MustFromEnv(cqlconn.RoleAdmin)
	def := cqlconn.Access{Username: "cassandra", Password: cqlconn.NewSecret("cassandra"), TLS: admin.TLS}
	for _, v := range []string{"ISLANDS_GLOBAL_US_CQL", "ISLANDS_GLOBAL_EU_CQL", "ISLANDS_GLOBAL_USW_CQL", "ISLANDS_EU_ISLAND_CQL"} {
		addr := os.Getenv(v)
		if addr == "" {
			t.Fatalf("%s is not set (scripts/regions env sets it)", v)
		}
		s, err := clusterAs(addr, def).CreateSession()
		if err == nil {
			s.Close()
			t.Errorf("%s (%s): cassandra/cassandra logged in: the default superuser is open", v, addr)
			continue
		}
		if !errors.Is(cqlconn.Explain(err, def, addr), cqlconn.ErrBadCredentials) {
			t.Errorf("%s (%s): cassandra/cassandra refused, but not for its credentials: %v", v, addr, err)
		}
	}
}
