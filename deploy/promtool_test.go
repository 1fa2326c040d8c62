package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// promtool checks the PrometheusRule's groups as Prometheus loads them and runs
// prometheus/rules_test.yaml, where the `for:` durations count. promtool is found in
// $ISLANDS_PROMTOOL or on PATH; without it the test skips (go install
// github.com/prometheus/prometheus/cmd/promtool@v0.316.0 builds it, in about a quarter of an hour).
func TestPromtoolRules(t *testing.T) {
	promtool := os.Getenv("ISLANDS_PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not found (set ISLANDS_PROMTOOL or put it on PATH): the `for:` durations are not checked")
		}
	}
	var spec *monitoringv1.PrometheusRuleSpec
	for _, o := range loadManifests(t) {
		if pr, ok := o.obj.(*monitoringv1.PrometheusRule); ok {
			spec = &pr.Spec
		}
	}
	if spec == nil {
		t.Fatal("no PrometheusRule")
	}
	rules, err := yaml.Marshal(spec) // {groups: …}: the rule file format
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests, err := os.ReadFile("prometheus/rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"islands-rules.yaml": rules, "rules_test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "islands-rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
		t.Logf("promtool %v:\n%s", args, out)
	}
}
