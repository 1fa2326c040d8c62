package dualwrite

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestDefaultPhaseIsPrimaryOnly: a session built without WithPhase writes only the primary, so a
// service that adopts dualwrite does not dual-write before anyone decided to (issue 31, item 3).
func TestDefaultPhaseIsPrimaryOnly(t *testing.T) {
	f := &fakeSides{}
	s, err := newSession([2]*sideConn{newSideConn(primarySide, nil, nil), newSideConn(secondarySide, nil, nil)},
		[]Option{withExecHook(f.exec), WithReplayLog(NewMemLog())})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Phase() != PrimaryOnly {
		t.Fatalf("default phase %s, want primary-only", s.Phase())
	}
	if err := s.Query("INSERT INTO kv (k, v) VALUES (1, 'a')").Exec(); err != nil {
		t.Fatal(err)
	}
	if len(f.seen[primarySide]) != 1 || len(f.seen[secondarySide]) != 0 {
		t.Fatalf("writes primary %d secondary %d, want 1 and 0", len(f.seen[primarySide]), len(f.seen[secondarySide]))
	}
}

// TestCountersExistAtZero: right after New, every counter series of the session exists with value
// 0 (labelled session=<name>), so alerts need no `or vector(0)`; the dead-letter counter too.
func TestCountersExistAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newFakeSession(t, &fakeSides{}, WithRegisterer(reg), WithName("profiles"))
	defer s.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()
		for _, m := range mf.GetMetric() {
			if !hasLabel(m, "session", "profiles") {
				t.Errorf("%s: series %v lacks session=\"profiles\"", mf.GetName(), m.GetLabel())
			}
			if c := m.GetCounter(); c != nil && c.GetValue() != 0 {
				t.Errorf("%s = %v right after New", mf.GetName(), c.GetValue())
			}
		}
	}
	want := map[string]int{ // series each counter must have at zero
		"islands_dualwrite_errors_total":                    8, // side × phase
		"islands_dualwrite_replay_logged_total":             1,
		"islands_dualwrite_replayed_total":                  1,
		"islands_dualwrite_refused_total":                   3, // non-deterministic, not-idempotent, not-a-mutation
		"islands_dualwrite_shadow_reads_total":              1,
		"islands_dualwrite_shadow_mismatches_total":         1,
		"islands_dualwrite_lwt_mismatches_total":            1,
		"islands_dualwrite_uncertain_counter_updates_total": 1,
		"islands_dualwrite_async_overflow_total":            1,
		"islands_dualwrite_follower_late_total":             1,
		"islands_dualwrite_session_rebuilds_total":          2, // side
		"islands_dualwrite_replay_dead_lettered_total":      1,
	}
	for name, n := range want {
		if len(got[name]) != n {
			t.Errorf("%s: %d series right after New, want %d", name, len(got[name]), n)
		}
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestErrUnencodableDocNoGob: the replay log stores typed values with its own codec
// (entrycodec.go), not gob: what `go doc dualwrite.ErrUnencodable` says must not send users to
// encoding/gob, and must say what cannot be stored.
func TestErrUnencodableDocNoGob(t *testing.T) {
	f, err := parser.ParseFile(gotoken.NewFileSet(), "errors.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == "ErrUnencodable" {
			doc = vs.Doc.Text()
		}
		return true
	})
	if doc == "" {
		t.Fatal("ErrUnencodable has no doc comment")
	}
	if strings.Contains(strings.ToLower(doc+ErrUnencodable.Error()), "gob") {
		t.Fatalf("ErrUnencodable still talks about gob: %q", doc)
	}
	if !strings.Contains(doc, "Marshaler") {
		t.Fatalf("ErrUnencodable's doc should say which values cannot be stored (an application's gocql.Marshaler …): %q", doc)
	}
}
