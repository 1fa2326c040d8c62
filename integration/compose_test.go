package integration

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeMatchesRegions keeps docker-compose.yml in step with scripts/regions: the same five
// services, published on the addresses scripts/regions env gives. It needs no service (Docker cannot
// run here, so this is the check that the file stays equivalent).
func TestComposeMatchesRegions(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image string   `yaml:"image"`
			Ports []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML: %v", err)
	}
	out, err := exec.Command("../scripts/regions", "env").Output()
	if err != nil {
		t.Fatalf("scripts/regions env: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		env[k] = v
	}
	want := map[string]string{
		"cassandra-us": env["ISLANDS_US_CQL"],
		"cassandra-eu": env["ISLANDS_EU_CQL"],
		"memcached-us": env["ISLANDS_US_MEMCACHED"],
		"memcached-eu": env["ISLANDS_EU_MEMCACHED"],
		"elasticmq":    strings.TrimPrefix(env["ISLANDS_SQS_ENDPOINT"], "http://"),
	}
	for svc, addr := range want {
		s, ok := compose.Services[svc]
		if !ok {
			t.Errorf("docker-compose.yml has no service %s", svc)
			continue
		}
		if s.Image == "" {
			t.Errorf("service %s has no image", svc)
		}
		port := addr[strings.LastIndex(addr, ":")+1:]
		if !slices.Contains(s.Ports, addr+":"+port) {
			t.Errorf("service %s publishes %v, want %s:%s as scripts/regions does", svc, s.Ports, addr, port)
		}
	}
	if len(compose.Services) != len(want) {
		t.Errorf("docker-compose.yml has %d services, scripts/regions %d", len(compose.Services), len(want))
	}
}
