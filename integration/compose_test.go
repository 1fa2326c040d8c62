package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeMatchesRegions keeps docker-compose.yml in step with scripts/regions: the same services,
// on the host's network, listening on the addresses scripts/regions env gives, and the WAN's proxies
// (scripts/services/toxiproxy.json, shared by both) in front of exactly the cross-region addresses.
// It needs no service (Docker cannot run here, so this is the check that the file stays equivalent).
func TestComposeMatchesRegions(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			NetworkMode string            `yaml:"network_mode"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Entrypoint  []string          `yaml:"entrypoint"`
			DependsOn   yaml.Node         `yaml:"depends_on"` // a list of names, or a map of name to condition
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
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
	host := func(name string) string {
		v := strings.TrimPrefix(env[name], "http://")
		h, _, err := net.SplitHostPort(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, env[name], err)
		}
		return h
	}
	out, err = exec.Command("../scripts/regions", "status").Output()
	if err != nil {
		t.Fatalf("scripts/regions status: %v", err)
	}
	var services []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			services = append(services, f[0])
		}
	}
	// Plus the one-shot roles service: what up does after the nodes answer.
	if len(compose.Services) != len(services)+1 {
		t.Errorf("docker-compose.yml has %d services, scripts/regions %d (%v) and roles", len(compose.Services), len(services), services)
	}

	// The WAN's proxies (scripts/services/toxiproxy.json): listen address -> upstream.
	raw, err = os.ReadFile("../scripts/services/toxiproxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var proxies []struct{ Name, Listen, Upstream string }
	if err := json.Unmarshal(raw, &proxies); err != nil {
		t.Fatalf("toxiproxy.json: %v", err)
	}
	paths := map[string]string{}
	for _, p := range proxies {
		paths[p.Listen] = p.Upstream
	}
	// storageProxy: the host of the proxy in front of the node at ip's storage port (its broadcast address).
	storageProxy := func(ip string) string {
		for l, u := range paths {
			if u == ip+":7000" {
				h, _, _ := net.SplitHostPort(l)
				return h
			}
		}
		return ""
	}

	// want: for each service, the environment entries or command words that give its addresses.
	type want struct {
		env     map[string]string
		command []string
	}
	wants := map[string]want{
		"wan": {command: []string{host("ISLANDS_WAN")}},
		"cassandra-us": {env: map[string]string{"CASSANDRA_RPC_ADDRESS": host("ISLANDS_GLOBAL_US_CQL"),
			"CASSANDRA_BROADCAST_ADDRESS": host("ISLANDS_GLOBAL_US_CQL_WAN"), "CASSANDRA_DC": env["ISLANDS_US_DC"]}},
		"cassandra-eu-global": {env: map[string]string{"CASSANDRA_RPC_ADDRESS": host("ISLANDS_GLOBAL_EU_CQL"),
			"CASSANDRA_BROADCAST_ADDRESS": host("ISLANDS_GLOBAL_EU_CQL_WAN"), "CASSANDRA_DC": env["ISLANDS_EU_DC"]}},
		"cassandra-usw": {env: map[string]string{"CASSANDRA_RPC_ADDRESS": host("ISLANDS_GLOBAL_USW_CQL"),
			"CASSANDRA_BROADCAST_ADDRESS": storageProxy(host("ISLANDS_GLOBAL_USW_CQL")), "CASSANDRA_DC": env["ISLANDS_USW_DC"]}},
		"cassandra-eu":  {env: map[string]string{"CASSANDRA_RPC_ADDRESS": host("ISLANDS_EU_ISLAND_CQL"), "CASSANDRA_DC": env["ISLANDS_EU_DC"]}},
		"memcached-us":  {command: []string{host("ISLANDS_US_MEMCACHED")}},
		"memcached-eu":  {command: []string{host("ISLANDS_EU_MEMCACHED")}},
		"memcached-usw": {command: []string{host("ISLANDS_USW_MEMCACHED")}},
		"elasticmq-usw": {env: map[string]string{"ISLANDS_SQS_HOST": host("ISLANDS_USW_SQS_ENDPOINT")}},
		"elasticmq-us":  {env: map[string]string{"ISLANDS_SQS_HOST": host("ISLANDS_US_SQS_ENDPOINT")}},
		"elasticmq-eu":  {env: map[string]string{"ISLANDS_SQS_HOST": host("ISLANDS_EU_SQS_ENDPOINT")}},
	}
	if host("ISLANDS_US_CQL") != host("ISLANDS_GLOBAL_US_CQL") || host("ISLANDS_EU_CQL") != host("ISLANDS_EU_ISLAND_CQL") ||
		env["ISLANDS_SQS_ENDPOINT"] != env["ISLANDS_US_SQS_ENDPOINT"] {
		t.Errorf("the legacy names moved: ISLANDS_US_CQL is the global us-east-1 node, ISLANDS_EU_CQL the EU island, ISLANDS_SQS_ENDPOINT the us-east-1 server")
	}
	for _, svc := range services {
		w, ok := wants[svc]
		if !ok {
			t.Errorf("scripts/regions has service %s this test does not know", svc)
			continue
		}
		s, ok := compose.Services[svc]
		if !ok {
			t.Errorf("docker-compose.yml has no service %s", svc)
			continue
		}
		if s.Image == "" || s.NetworkMode != "host" {
			t.Errorf("service %s: image %q, network_mode %q; want an image and the host's network", svc, s.Image, s.NetworkMode)
		}
		for k, v := range w.env {
			if s.Environment[k] != v {
				t.Errorf("service %s: %s=%q, want %q as scripts/regions", svc, k, s.Environment[k], v)
			}
		}
		for _, word := range w.command {
			if !slices.Contains(s.Command, word) {
				t.Errorf("service %s: command %v lacks %s as scripts/regions", svc, s.Command, word)
			}
		}
	}
	if !slices.Contains(compose.Services["wan"].Volumes, "./scripts/services/toxiproxy.json:/config/toxiproxy.json:ro") {
		t.Errorf("service wan does not use scripts/services/toxiproxy.json: %v", compose.Services["wan"].Volumes)
	}

	// The secured Cassandra nodes: the same configuration fragment as scripts/regions, whose every
	// top-level key the entrypoint first removes from the image's cassandra.yaml; each node's own
	// keystore from the same tls/ directory whose CA scripts/regions env names.
	raw, err = os.ReadFile("../scripts/services/cassandra-secure.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`(?m)^([a-z_]+):`).FindAllStringSubmatch(string(raw), -1)
	if len(keys) == 0 {
		t.Fatal("scripts/services/cassandra-secure.yaml sets no key")
	}
	state := os.Getenv("ISLANDS_STATE")
	if state == "" {
		state = "./.regions"
	}
	if ca := env["ISLANDS_CQL_CA"]; ca != "" {
		repoRoot, _ := filepath.Abs("..")
		dir := state
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(repoRoot, dir)
		}
		if filepath.Join(dir, "tls") != filepath.Dir(ca) {
			t.Errorf("docker-compose.yml mounts %s/tls, but scripts/regions env gives ISLANDS_CQL_CA=%s", dir, ca)
		}
	}
	// Each node mounts its own keystore and no other file of tls/ (another node's key, the CA's), and
	// nothing of ca/ (the CA's key stays with the operator); JMX asks for a login, and the
	// healthcheck gives it by file.
	for _, svc := range []string{"cassandra-us", "cassandra-eu-global", "cassandra-usw", "cassandra-eu"} {
		s := compose.Services[svc]
		own := "${ISLANDS_STATE:-./.regions}/tls/" + svc + ".p12:/islands/node.p12:ro"
		for _, v := range []string{"./scripts/services/cassandra-secure.yaml:/islands/cassandra-secure.yaml:ro", own,
			"${ISLANDS_STATE:-./.regions}/secrets/jmx.password:/islands/jmx.password:ro"} {
			if !slices.Contains(s.Volumes, v) {
				t.Errorf("service %s does not mount %s (the secured configuration scripts/regions uses): %v", svc, v, s.Volumes)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":/")
			segs := strings.Split(src, "/")
			if v != own && (slices.Contains(segs, "tls") || slices.Contains(segs, "ca") || segs[len(segs)-1] == "secrets") {
				t.Errorf("service %s mounts %s: a node gets its own keystore only, never the tls/ or ca/ directory, another node's key or the CA's", svc, v)
			}
		}
		if !strings.Contains(strings.Join(s.Entrypoint, " "), "jmxremote.authenticate=true") {
			t.Errorf("service %s: the entrypoint does not turn JMX authentication on", svc)
		}
		if hc := strings.Join(s.Healthcheck.Test, " "); !strings.Contains(hc, "-pwf") {
			t.Errorf("service %s: the healthcheck's nodetool gives no JMX login: %s", svc, hc)
		}
		if s.Environment["ISLANDS_NODE"] != svc {
			t.Errorf("service %s: ISLANDS_NODE=%q, want %q (its keystore is tls/%s.p12)", svc, s.Environment["ISLANDS_NODE"], svc, svc)
		}
		entry := strings.Join(s.Entrypoint, " ")
		for _, k := range keys {
			if !strings.Contains(entry, k[1]) {
				t.Errorf("service %s: the entrypoint does not remove the image's %s, which cassandra-secure.yaml sets", svc, k[1])
			}
		}
	}

	// The roles: as soon as every node is healthy, in both clusters, as scripts/regions up.
	r := compose.Services["roles"]
	var deps map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := r.DependsOn.Decode(&deps); err != nil {
		t.Errorf("service roles: depends_on: %v", err)
	}
	for _, svc := range []string{"cassandra-us", "cassandra-eu-global", "cassandra-usw", "cassandra-eu"} {
		if deps[svc].Condition != "service_healthy" {
			t.Errorf("service roles does not wait for %s to be healthy: %+v", svc, deps)
		}
	}
	entry := strings.Join(r.Entrypoint, " ")
	for _, want := range []string{"roles -system-auth us-east-1:1,eu-west-1:1,us-west-2:1 " + env["ISLANDS_GLOBAL_US_CQL"], "roles -system-auth eu-west-1:1 " + env["ISLANDS_EU_ISLAND_CQL"]} {
		if !strings.Contains(entry, want) {
			t.Errorf("service roles does not run %q as scripts/regions up does: %s", want, entry)
		}
	}
	for _, v := range r.Volumes {
		segs := strings.Split(strings.Split(v, ":")[0], "/")
		if segs[len(segs)-1] == "secrets" || strings.Contains(v, "keystore") || strings.Contains(v, "jmx") || slices.Contains(segs, "ca") {
			t.Errorf("service roles mounts %s: it needs the roles' password files and the CA's certificate only", v)
		}
	}

	// The WAN's proxies: each *_WAN address in front of the same service's direct address, one
	// per directed pair of regions (every listen address distinct).
	if len(paths) != len(proxies) {
		t.Errorf("toxiproxy.json: %d proxies on %d addresses", len(proxies), len(paths))
	}
	for wan, direct := range map[string]string{
		"ISLANDS_GLOBAL_US_CQL_WAN": "ISLANDS_GLOBAL_US_CQL", "ISLANDS_GLOBAL_EU_CQL_WAN": "ISLANDS_GLOBAL_EU_CQL",
		"ISLANDS_US_SQS_ENDPOINT_WAN": "ISLANDS_US_SQS_ENDPOINT", "ISLANDS_EU_SQS_ENDPOINT_WAN": "ISLANDS_EU_SQS_ENDPOINT",
		"ISLANDS_GLOBAL_USW_CQL_WAN_FROM_US": "ISLANDS_GLOBAL_USW_CQL", "ISLANDS_GLOBAL_USW_CQL_WAN_FROM_EU": "ISLANDS_GLOBAL_USW_CQL",
		"ISLANDS_GLOBAL_US_CQL_WAN_FROM_USW": "ISLANDS_GLOBAL_US_CQL", "ISLANDS_GLOBAL_EU_CQL_WAN_FROM_USW": "ISLANDS_GLOBAL_EU_CQL",
		"ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_US": "ISLANDS_USW_SQS_ENDPOINT", "ISLANDS_USW_SQS_ENDPOINT_WAN_FROM_EU": "ISLANDS_USW_SQS_ENDPOINT",
		"ISLANDS_US_SQS_ENDPOINT_WAN_FROM_USW": "ISLANDS_US_SQS_ENDPOINT", "ISLANDS_EU_SQS_ENDPOINT_WAN_FROM_USW": "ISLANDS_EU_SQS_ENDPOINT",
	} {
		l, u := strings.TrimPrefix(env[wan], "http://"), strings.TrimPrefix(env[direct], "http://")
		if paths[l] != u {
			t.Errorf("toxiproxy.json: %s (%s) leads to %q, want %s (%s)", wan, l, paths[l], direct, u)
		}
	}
	if storageProxy(host("ISLANDS_GLOBAL_USW_CQL")) == "" {
		t.Errorf("toxiproxy.json: no storage proxy in front of the us-west-2 node")
	}
	for _, region := range []string{"US", "EU"} {
		l := host("ISLANDS_GLOBAL_"+region+"_CQL_WAN") + ":7000"
		u := host("ISLANDS_GLOBAL_"+region+"_CQL") + ":7000"
		if paths[l] != u {
			t.Errorf("toxiproxy.json: the %s node's broadcast address %s leads to %q, want its storage port %s", region, l, paths[l], u)
		}
	}
}
