package integration

import (
	"testing"

	"github.com/globalcloud/islands/dualwrite"
)

// replayDeadLetters returns the statements of the dead-lettered entries in replay directory dir
// (read-only: the session writing there may still run).
func replayDeadLetters(t testing.TB, dir string) []string {
	t.Helper()
	l, err := dualwrite.OpenFileLog(dir, 0, dualwrite.FileLogReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dead, err := l.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range dead {
		for _, st := range a.Entry.Stmts {
			out = append(out, st.Stmt)
		}
	}
	return out
}
