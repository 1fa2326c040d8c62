package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest document.
type object struct {
	file string
	kind string
	name string
	obj  any
}

// kinds maps apiVersion/kind to the Go type a document decodes into. A document of any other kind
// fails the test: add its type here when a manifest needs it.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                       func() any { return &batchv1.Job{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one YAML document into its API type as the API server's strict field
// validation does: YAML to JSON refusing duplicate keys, then JSON into the type refusing unknown
// fields and fields whose case differs from the type's.
func decodeStrict(doc []byte) (kind string, obj any, err error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", nil, err
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return "", nil, err
	}
	kind = tm.APIVersion + "/" + tm.Kind
	mk, ok := kinds[kind]
	if !ok {
		return kind, nil, fmt.Errorf("unknown kind %q (add its Go type to kinds)", kind)
	}
	obj = mk()
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return kind, nil, err
	}
	if len(strict) > 0 {
		return kind, nil, fmt.Errorf("strict decoding: %v", strict)
	}
	return kind, obj, nil
}

// loadManifests decodes every document of every kubernetes/*.yaml file.
func loadManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under kubernetes/: %v", err)
	}
	var out []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			kind, obj, err := decodeStrict([]byte(doc))
			if err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			m := obj.(metav1.Object)
			if m.GetName() == "" || m.GetNamespace() == "" && kind != "v1/Namespace" {
				t.Errorf("%s document %d (%s): name %q namespace %q: every object is named and namespaced", f, i+1, kind, m.GetName(), m.GetNamespace())
			}
			out = append(out, object{file: f, kind: kind, name: m.GetName(), obj: obj})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The decoder is strict: it is trusted only because it refuses these.
func TestDecodeStrictRefuses(t *testing.T) {
	bad := map[string]string{
		"unknown field":    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIp: None}\n",
		"misspelt nested":  "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionmode: Indexed}\n",
		"wrong case":       "apiVersion: v1\nkind: ConfigMap\nmetadata: {Name: a}\n",
		"duplicate key":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: '1', x: '2'}\n",
		"unknown kind":     "apiVersion: v1\nkind: Pod2\nmetadata: {name: a}\n",
		"wrong type":       "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completions: four}\n",
		"monitoring field": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\nspec: {endpoint: []}\n",
	}
	for name, doc := range bad {
		if _, _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, _, err := decodeStrict([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: None}\n")); err != nil {
		t.Errorf("a valid Service: %v", err)
	}
}

// Every manifest decodes strictly (loadManifests fails the test on any error).
func TestManifestsDecodeStrictly(t *testing.T) {
	objs := loadManifests(t)
	seen := map[string]bool{}
	for _, o := range objs {
		key := o.kind + "/" + o.name
		if seen[key] {
			t.Errorf("%s: %s declared twice", o.file, key)
		}
		seen[key] = true
	}
	for _, want := range []string{"batch/v1/Job/forklift-run", "apps/v1/Deployment/memcached", "monitoring.coreos.com/v1/PrometheusRule/islands",
		"monitoring.coreos.com/v1/ServiceMonitor/forklift", "monitoring.coreos.com/v1/ServiceMonitor/cachesync"} {
		if !seen[want] {
			t.Errorf("no %s among the manifests", want)
		}
	}
}

// podSpecs returns the pod templates of the workloads.
func podSpecs(objs []object) map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, o := range objs {
		switch w := o.obj.(type) {
		case *batchv1.Job:
			out[o.kind+"/"+o.name] = &w.Spec.Template.Spec
		case *appsv1.Deployment:
			out[o.kind+"/"+o.name] = &w.Spec.Template.Spec
		}
	}
	return out
}

// Every container runs as non-root with a read-only root file system, no privilege escalation
// and no capability; Secrets reach the pods only as read-only files.
func TestPodsAreLockedDown(t *testing.T) {
	objs := loadManifests(t)
	specs := podSpecs(objs)
	if len(specs) < 2 {
		t.Fatalf("%d workloads, want the forklift Job and the memcached Deployment", len(specs))
	}
	for name, ps := range specs {
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", name)
		}
		if ps.SecurityContext == nil || ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: no RuntimeDefault seccomp profile", name)
		}
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: the service account token is mounted (no program talks to the API server)", name)
		}
		secretVolumes := map[string]bool{}
		for _, v := range ps.Volumes {
			if v.Secret != nil {
				secretVolumes[v.Name] = true
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o337 != 0 {
					t.Errorf("%s: secret volume %s mode %o: want at most 0440", name, v.Name, modeOf(v.Secret.DefaultMode))
				}
			}
		}
		for _, c := range ps.Containers {
			sc := c.SecurityContext
			where := name + " container " + c.Name
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: root file system is writable", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: privilege escalation allowed", where)
			}
			if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v, want drop [ALL] and none added", where, sc.Capabilities)
			}
			if uid := sc.RunAsUser; uid != nil && *uid == 0 {
				t.Errorf("%s: runs as root", where)
			}
			if c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: no memory limit", where)
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("%s: env %s comes from a Secret: mount Secrets as files (the environment leaks into /proc and crash dumps)", where, e.Name)
				}
			}
			for _, m := range c.VolumeMounts {
				if secretVolumes[m.Name] && !m.ReadOnly {
					t.Errorf("%s: secret volume %s mounted writable", where, m.Name)
				}
			}
		}
	}
}

func modeOf(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

// The forklift Job is Indexed, its pods' shard count is its completions, its pods are replaced
// with the same index, and the Secrets its config names are mounted where the config says.
func TestForkliftIndexedJob(t *testing.T) {
	objs := loadManifests(t)
	var job *batchv1.Job
	var cm *corev1.ConfigMap
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *batchv1.Job:
			if o.name == "forklift-run" {
				job = v
			}
		case *corev1.ConfigMap:
			if o.name == "forklift-config" {
				cm = v
			}
		}
	}
	if job == nil || cm == nil {
		t.Fatal("no Job forklift-run or ConfigMap forklift-config")
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Parallelism > *s.Completions {
		t.Fatalf("completions %v parallelism %v", s.Completions, s.Parallelism)
	}
	if s.BackoffLimitPerIndex == nil {
		t.Error("no backoffLimitPerIndex: one failing shard would use the whole Job's retries")
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s, want Never (backoffLimitPerIndex and podFailurePolicy need it)", s.Template.Spec.RestartPolicy)
	}
	c := s.Template.Spec.Containers[0]
	n := -1
	var config string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--shard-from-env="); ok {
			n, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			config = v
		}
		if strings.HasPrefix(a, "--shard=") || a == "--shard" || a == "--shard-from-env" {
			t.Errorf("arg %q: give --shard-from-env=N in one argument, and no --shard", a)
		}
	}
	if n != int(*s.Completions) {
		t.Errorf("--shard-from-env=%d but completions %d: every index must be a shard of the same count", n, *s.Completions)
	}
	// The config file is the ConfigMap's key, and every file it names is on a mounted volume.
	dir, key := filepath.Split(config)
	if _, ok := cm.Data[key]; !ok {
		t.Fatalf("--config=%s: ConfigMap forklift-config has no key %q", config, key)
	}
	mounted := map[string]string{} // mount path → volume
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = m.Name
	}
	if mounted[strings.TrimSuffix(dir, "/")] != "config" {
		t.Errorf("%s is not where the config volume is mounted", dir)
	}
	secretOf := map[string]string{}
	for _, v := range s.Template.Spec.Volumes {
		if v.Secret != nil {
			secretOf[v.Name] = v.Secret.SecretName
		}
	}
	files := regexp.MustCompile(`(?m)(?:password_file|ca_file):\s*(\S+?)[,}\s]`).FindAllStringSubmatch(cm.Data[key]+"\n", -1)
	if len(files) < 3 {
		t.Fatalf("the config names %d secret files, want the two passwords and the CA", len(files))
	}
	for _, f := range files {
		vol := mounted[filepath.Dir(f[1])]
		if secretOf[vol] == "" {
			t.Errorf("config names %s, but %s is not a mounted Secret", f[1], filepath.Dir(f[1]))
		}
	}
	if bytes.Contains([]byte(cm.Data[key]), []byte("password:")) {
		t.Error("the ConfigMap holds a literal password")
	}
}

// The agent's probes are on /healthz of the port it listens on, and the port is the one its
// config's listen names.
func TestCachesyncSidecar(t *testing.T) {
	objs := loadManifests(t)
	specs := podSpecs(objs)
	ps := specs["apps/v1/Deployment/memcached"]
	if ps == nil {
		t.Fatal("no Deployment memcached")
	}
	names := map[string]corev1.Container{}
	for _, c := range ps.Containers {
		names[c.Name] = c
	}
	agent, ok1 := names["cachesync"]
	if _, ok2 := names["memcached"]; !ok1 || !ok2 {
		t.Fatalf("containers %v, want memcached and the cachesync sidecar", names)
	}
	for what, p := range map[string]*corev1.Probe{"startup": agent.StartupProbe, "readiness": agent.ReadinessProbe, "liveness": agent.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v: want GET /healthz on the metrics port", what, p)
		}
	}
	var port int32
	for _, p := range agent.Ports {
		if p.Name == "metrics" {
			port = p.ContainerPort
		}
	}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && o.name == "cachesync-config" {
			if !strings.Contains(cm.Data["cachesync.yaml"], fmt.Sprintf("listen: \":%d\"", port)) {
				t.Errorf("the agent's listen is not :%d (its metrics port), or is loopback (the kubelet and Prometheus could not reach it)", port)
			}
		}
	}
}
