package dualwrite

import "testing"

func TestParseStatement(t *testing.T) {
	cases := []struct {
		stmt                string
		read, lwt, incr     bool
		nd, keyspace, table string
	}{
		{stmt: "SELECT * FROM ks.t WHERE k = ?", read: true},
		{stmt: "INSERT INTO ks.t (k, v) VALUES (?, ?)", keyspace: "ks", table: "t"},
		{stmt: "insert into t (k, v) values (?, now())", nd: "now()", table: "t"},
		{stmt: "INSERT INTO t (k, v) VALUES (?, 'now()')", table: "t"},
		{stmt: "UPDATE ks.t SET v = ? WHERE k = ? IF v = ?", lwt: true, keyspace: "ks", table: "t"},
		{stmt: "INSERT INTO t (k) VALUES (?) IF NOT EXISTS", lwt: true, table: "t"},
		{stmt: "UPDATE counters SET hits = hits + 1 WHERE k = ?", incr: true, table: "counters"},
		{stmt: "UPDATE t SET tags = tags + ? WHERE k = ?", incr: true, table: "t"},
		{stmt: "UPDATE t SET a = b + 1 WHERE k = ?", table: "t"},
		{stmt: "DELETE FROM ks.\"Mixed\" WHERE k = ?", keyspace: "ks", table: "Mixed"},
		{stmt: "UPDATE t SET v = uuid() WHERE k = ?", nd: "uuid()", table: "t"},
		{stmt: "UPDATE t SET v = toTimestamp(now()) WHERE k = ?", nd: "now()", table: "t"},
		{stmt: "UPDATE t SET v = currentTimestamp() WHERE k = ?", nd: "currentTimestamp()", table: "t"},
		{stmt: "UPDATE t SET v = minTimeuuid(?) WHERE k = ?", table: "t"},
	}
	for _, c := range cases {
		st := parseStatement(c.stmt)
		if st.read != c.read || st.lwt != c.lwt || st.increments != c.incr || st.nonDeterministic != c.nd ||
			st.keyspace != c.keyspace || st.table != c.table {
			t.Errorf("%q: got %+v", c.stmt, st)
		}
	}
}

func TestMapKeyspaces(t *testing.T) {
	m := map[string]string{"island": "global"}
	cases := map[string]string{
		"INSERT INTO island.profiles (k) VALUES (?)":                   "INSERT INTO global.profiles (k) VALUES (?)",
		"UPDATE island.p SET v = 'island.p' WHERE k = ?":               "UPDATE global.p SET v = 'island.p' WHERE k = ?",
		"INSERT INTO other.profiles (k) VALUES (?)":                    "INSERT INTO other.profiles (k) VALUES (?)",
		"BEGIN BATCH INSERT INTO island.a (k) VALUES (1); APPLY BATCH": "BEGIN BATCH INSERT INTO global.a (k) VALUES (1); APPLY BATCH",
		"INSERT INTO profiles (k) VALUES (?)":                          "INSERT INTO profiles (k) VALUES (?)",
	}
	for in, want := range cases {
		if got := mapKeyspaces(in, m); got != want {
			t.Errorf("mapKeyspaces(%q) = %q, want %q", in, got, want)
		}
	}
}
