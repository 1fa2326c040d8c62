package deploy

import (
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// promql parses as Prometheus does by default.
var promql = parser.NewParser(parser.Options{})

// alertingRules returns the PrometheusRule's alerts, by name.
func alertingRules(t *testing.T) map[string]monitoringv1.Rule {
	t.Helper()
	out := map[string]monitoringv1.Rule{}
	for _, o := range loadManifests(t) {
		pr, ok := o.obj.(*monitoringv1.PrometheusRule)
		if !ok {
			continue
		}
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					t.Errorf("group %s: a rule without an alert name (recording rules belong elsewhere)", g.Name)
					continue
				}
				if _, dup := out[r.Alert]; dup {
					t.Errorf("alert %s declared twice", r.Alert)
				}
				out[r.Alert] = r
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no alerts")
	}
	return out
}

// Every alert's expression parses, has a severity and a part, and says what to do.
func TestAlertsParse(t *testing.T) {
	for name, r := range alertingRules(t) {
		if _, err := promql.ParseExpr(r.Expr.StrVal); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", name, r.Labels["severity"])
		}
		if r.Labels["part"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: needs a part label, a summary and a description (what to do)", name)
		}
	}
}

// alertCases is one promqltest script per alert: EXPR stands for the alert's expression wrapped
// as (EXPR) * 0 + 1, so each expected series is a label set the alert fires for, with value 1; an
// eval with no series expects the alert quiet. The `for:` durations are not evaluated here (they
// are promtool's: deploy/prometheus/rules_test.yaml).
var alertCases = map[string]string{
	"DualwriteReplayBacklogOld": `
load 1m
  islands_dualwrite_replay_oldest_age_seconds{namespace="islands",pod="app-1",session="profiles"} 0+60x30
  islands_dualwrite_replay_oldest_age_seconds{namespace="islands",pod="app-2",session="profiles"} 0+5x30

eval instant at 15m EXPR
  {namespace="islands",pod="app-1",session="profiles"} 1

eval instant at 9m EXPR
`,
	"DualwriteDeadLetters": `
load 1m
  islands_dualwrite_replay_dead_lettered_total{namespace="islands",pod="app-1"} 0x10 1x110
  islands_dualwrite_replay_dead_lettered_total{namespace="islands",pod="app-2"} 3x120

eval instant at 30m EXPR
  {namespace="islands",pod="app-1"} 1

eval instant at 5m EXPR

eval instant at 115m EXPR
`,
	"DualwriteUncertainCounterUpdates": `
load 1m
  islands_dualwrite_uncertain_counter_updates_total{namespace="islands",pod="app-1",session="views"} 0x10 2x110
  islands_dualwrite_uncertain_counter_updates_total{namespace="islands",pod="app-2",session="views"} 0x120

eval instant at 30m EXPR
  {namespace="islands",pod="app-1",session="views"} 1

eval instant at 5m EXPR
`,
	"DualwriteFleetPhaseSplit": `
load 1m
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-1",session="profiles",side="primary",phase="dual"} 0+10x40
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-1",session="profiles",side="secondary",phase="dual"} 0+10x40
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-2",session="profiles",side="primary",phase="dual"} 0+10x40
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-3",session="profiles",side="primary",phase="primary-only"} 0+10x40
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-1",session="history",side="primary",phase="primary-only"} 0+10x10 100x30
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-1",session="history",side="primary",phase="dual"} _x10 0+10x30
  islands_dualwrite_request_duration_seconds_count{namespace="islands",pod="app-2",session="history",side="primary",phase="dual"} 0+10x40

eval instant at 30m EXPR
  {namespace="islands",session="profiles"} 1

eval instant at 12m EXPR
  {namespace="islands",session="profiles"} 1
  {namespace="islands",session="history"} 1
`,
	"CachesyncLagHigh": `
load 1m
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-eu",le="0.512"} 0+100x20
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-eu",le="4.096"} 0+100x20
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-eu",le="+Inf"} 0+100x20
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-us",le="0.512"} 0+50x20
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-us",le="4.096"} 0+100x20
  islands_cachesync_lag_seconds_bucket{namespace="islands",pod="mc-us",le="+Inf"} 0+100x20

eval instant at 10m EXPR
  {namespace="islands",pod="mc-us"} 1
`,
	"CachesyncEventsDeadLettered": `
load 1m
  islands_cachesync_poison_messages_total{namespace="islands",pod="mc-eu"} 0x5 1x55
  islands_cachesync_poison_messages_total{namespace="islands",pod="mc-us"} 0x60

eval instant at 10m EXPR
  {namespace="islands",pod="mc-eu"} 1

eval instant at 40m EXPR
`,
	"CachesyncEventsDropped": `
load 1m
  islands_cachesync_dropped_total{namespace="shop",pod="web-1"} 0x5 7x55
  islands_cachesync_dropped_total{namespace="shop",pod="web-2"} 0x60

eval instant at 10m EXPR
  {namespace="shop",pod="web-1"} 1

eval instant at 40m EXPR
`,
	"CachesyncApplyFailing": `
load 1m
  islands_cachesync_apply_errors_total{namespace="islands",pod="mc-eu"} 0+3x30
  islands_cachesync_apply_errors_total{namespace="islands",pod="mc-us"} 4x30

eval instant at 20m EXPR
  {namespace="islands",pod="mc-eu"} 1
`,
	"CachesyncAgentDown": `
load 1m
  up{job="cachesync",namespace="islands",pod="mc-eu"} 0x10
  up{job="cachesync",namespace="islands",pod="mc-us"} 1x10
  up{job="forklift",namespace="islands",pod="forklift-run-0"} 0x10

eval instant at 5m EXPR
  {job="cachesync",namespace="islands",pod="mc-eu"} 1
`,
	"ForkliftStalled": `
load 1m
  process_start_time_seconds{job="forklift",namespace="islands",pod="forklift-run-0"} 0x40
  process_start_time_seconds{job="forklift",namespace="islands",pod="forklift-run-1"} 0x40
  process_start_time_seconds{job="forklift",namespace="islands",pod="forklift-run-2"} 600x40
  process_start_time_seconds{job="forklift",namespace="islands",pod="forklift-run-3"} 1500x40
  process_start_time_seconds{job="cachesync",namespace="islands",pod="mc-eu"} 0x40
  islands_forklift_rows_total{job="forklift",namespace="islands",pod="forklift-run-0",table="island.profiles"} 0+100x10 1000x30
  islands_forklift_rows_total{job="forklift",namespace="islands",pod="forklift-run-1",table="island.profiles"} 0+100x40

eval instant at 30m EXPR
  {namespace="islands",pod="forklift-run-0"} 1
  {namespace="islands",pod="forklift-run-2"} 1

eval instant at 14m EXPR
`,
}

// Each alert fires where it must and stays quiet where it must, on the real PromQL engine.
func TestAlertUnitTests(t *testing.T) {
	rules := alertingRules(t)
	for name := range alertCases {
		if _, ok := rules[name]; !ok {
			t.Errorf("a unit test for alert %s, which the PrometheusRule does not have", name)
		}
	}
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			script, ok := alertCases[name]
			if !ok {
				t.Fatalf("alert %s has no unit test: add one to alertCases", name)
			}
			expr := "(" + strings.TrimSpace(rules[name].Expr.StrVal) + ") * 0 + 1"
			script = strings.ReplaceAll(script, "EXPR", strings.ReplaceAll(expr, "\n", " "))
			promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 0, 100000))
		})
	}
}

// A rule file the tests could not break is not tested: a wrong expectation must fail.
func TestAlertUnitTestsCanFail(t *testing.T) {
	rt := &recordingT{TB: t}
	func() {
		defer func() { recover() }() // promqltest stops the test with FailNow
		promqltest.RunTest(rt, `
load 1m
  up{job="cachesync"} 1x10

eval instant at 5m (up{job="cachesync"} == 0) * 0 + 1
  {job="cachesync"} 1
`, promqltest.NewTestEngine(t, false, 0, 100000))
	}()
	if !rt.failed {
		t.Fatal("promqltest accepted a series the expression does not return")
	}
}

// recordingT records a failure instead of failing the test.
type recordingT struct {
	testing.TB
	failed bool
}

func (r *recordingT) Errorf(string, ...any) { r.failed = true }
func (r *recordingT) Fatalf(string, ...any) { r.failed = true; panic("fatal") }
func (r *recordingT) Fatal(...any)          { r.failed = true; panic("fatal") }
func (r *recordingT) Error(...any)          { r.failed = true }
func (r *recordingT) FailNow()              { r.failed = true; panic("fatal") }
func (r *recordingT) Fail()                 { r.failed = true }
