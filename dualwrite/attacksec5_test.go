package dualwrite

import (
	"strings"
	"testing"
)

// Attack (security review 5): a statement's literals are member data (docs/security.md, "Logs and
// member data"), and the earlier review made ErrUnencodable quote the statement as logStmt masks it
// (TestAttackSec4ReplayLogErrorQuotesTheStatementAsWritten). The write path's refusals still quote
// it as written: ErrNonDeterministic ("now() in %q", shown here) and ErrNotReplayable ("%q (…) in
// the … phase", checkMutation in write.go, for a statement that is not a row mutation; not run here).
// The application receives the error and, as any caller does with a refused write, logs it at
// error level: `INSERT … VALUES ('alice@example.com', toTimestamp(now()))` puts the member's email
// in its error log. docs/security.md lists such a limit for cachesync's returned errors ("log them
// as member data"), none for dualwrite's.
func TestAttackSec5RefusalErrorsQuoteTheStatementAsWritten(t *testing.T) {
	s := newFakeSession(t, &fakeSides{})
	defer s.Close()
	for _, stmt := range []string{
		"INSERT INTO kv (k, v) VALUES ('alice@example.com', toTimestamp(now()))",
		"UPDATE kv SET v = 'Alice Liddell, 4 Wonderland Rd' WHERE k = uuid()",
	} {
		err := s.Query(stmt).Exec()
		if err == nil {
			t.Logf("%q: accepted", stmt)
			continue
		}
		for _, lit := range []string{"alice@example.com", "Alice Liddell"} {
			if strings.Contains(stmt, lit) && strings.Contains(err.Error(), lit) {
				t.Errorf("the error the application logs shows the literal %q: %v", lit, err)
			}
		}
	}
}
