package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Attack (security review 3): scripts/regions runs code from $ISLANDS_CACHE — the Cassandra jars
// (every node's classpath, the jamm agent, and nodetool, which `scripts/regions nodetool` and so
// `roles`, the chaos campaign and the tests run), ElasticMQ's jars and the Toxiproxy binary — and
// never looks at who owns it. On a machine shared by several engineers a cache shared between them
// (ISLANDS_CACHE=/srv/islands-cache, to skip the 60 s of downloads) is the natural set-up; whoever
// else can write it then runs code as the world's owner at the next up, restart or nodetool, and
// reads everything: the secrets, the CA's key, the members' data. The script refuses a state
// directory or an islands-lab binary it cannot trust (the stamp), not the cache.
//
// Reproduction, without the running world: a cache owned by another user (uid 65534) whose
// "cassandra-5.0.9/lib" holds a planted org.apache.cassandra.tools.NodeTool, and a state with one
// "running" node (a sleep's pid). `scripts/regions nodetool cassandra-eu version` runs the planted
// class as this user, with -pwf naming the node's JMX password file, which it copies out.
func TestAttackSec3RegionsRunsCodeFromAnotherUsersCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cache owned by another user")
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("no javac to build the planted class")
	}
	jarBin, err := exec.LookPath("jar")
	if err != nil {
		t.Skip("no jar")
	}
	top := t.TempDir()
	loot := filepath.Join(top, "loot")
	// The planted nodetool: copies the file -pwf names (the world's JMX password) to loot.
	src := filepath.Join(top, "src", "org", "apache", "cassandra", "tools")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	java := `package org.apache.cassandra.tools;
public class NodeTool {
  public static void main(String[] a) throws Exception {
    for (int i = 0; i + 1 < a.length; i++)
      if (a[i].equals("-pwf"))
        java.nio.file.Files.copy(java.nio.file.Paths.get(a[i + 1]), java.nio.file.Paths.get(` + strconv.Quote(loot) + `));
    System.out.println("planted nodetool ran as " + System.getProperty("user.name"));
  }
}
`
	if err := os.WriteFile(filepath.Join(src, "NodeTool.java"), []byte(java), 0o644); err != nil {
		t.Fatal(err)
	}
	classes := filepath.Join(top, "classes")
	if out, err := exec.Command(javac, "-d", classes, filepath.Join(src, "NodeTool.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	cache := filepath.Join(top, "shared-cache")
	lib := filepath.Join(cache, "cassandra-5.0.9", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(jarBin, "cf", filepath.Join(lib, "cassandra-all-5.0.9.jar"), "-C", classes, ".").CombinedOutput(); err != nil {
		t.Fatalf("jar: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(lib, ".complete"), nil, 0o644)
	// The cache is another user's (the shared cache's owner, or whoever could write it).
	filepath.Walk(cache, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })

	// A state with one "running" node: its pid file names a live process of ours.
	state := filepath.Join(top, "state")
	node := filepath.Join(state, "cassandra-eu", "conf")
	for _, d := range []string{node, filepath.Join(state, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const jmxPassword = "attacksec3-jmx-password-not-a-world-secret"
	os.WriteFile(filepath.Join(node, "nodetool.password"), []byte("islands_jmx "+jmxPassword+"\n"), 0o600)
	os.WriteFile(filepath.Join(state, "cassandra-eu", "jmx-port"), []byte("7999\n"), 0o600)
	sleep := exec.Command("sleep", "300")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	os.WriteFile(filepath.Join(state, "run", "cassandra-eu.pid"), []byte(strconv.Itoa(sleep.Process.Pid)+"\n"), 0o600)

	regions, err := filepath.Abs("../scripts/regions")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(regions, "nodetool", "cassandra-eu", "version")
	cmd.Env = append(os.Environ(), "ISLANDS_STATE="+state, "ISLANDS_CACHE="+cache)
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/regions nodetool with ISLANDS_CACHE owned by uid 65534: %v\n%s", err, out)
	if b, rerr := os.ReadFile(loot); rerr == nil && strings.Contains(string(b), jmxPassword) {
		t.Errorf("code planted in a cache another user owns ran as this user and copied the node's JMX password out (%s)", loot)
	} else if strings.Contains(string(out), "planted nodetool ran") {
		t.Errorf("code planted in a cache another user owns ran as this user")
	}
}

// Attack (security review 3): the same for $ISLANDS_STATE. The script makes it private ("chmod 700,
// chmod -R go-rwx") but never asks whose it is, and keeps any password file it finds there
// (new_secret: "unless it has one already"). Another user who made the state directory first (a
// shared path such as /tmp/islands-world, or /work/world before its owner's first up) chooses the
// world's passwords, and as the directory's owner keeps every right on it after the chmod: the
// world then runs with an admin password that user knows. Here only install runs (no service is
// started): the state is uid 65534's, with a planted admin password.
func TestAttackSec3RegionsKeepsPasswordsPlantedInAnotherUsersState(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a state owned by another user")
	}
	for _, tool := range []string{"keytool", "java", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("no " + tool)
		}
	}
	home, _ := os.UserHomeDir()
	if _, err := os.Stat(filepath.Join(home, ".cache", "islands", "cassandra-5.0.9", "lib", ".complete")); err != nil {
		t.Skip("no warm ISLANDS_CACHE (install would download)")
	}
	state := filepath.Join(t.TempDir(), "state")
	secrets := filepath.Join(state, "secrets")
	if err := os.MkdirAll(secrets, 0o777); err != nil {
		t.Fatal(err)
	}
	const planted = "PlantedByAnotherUser0123456789ab" // 32 letters and digits, as new_secret makes them
	if err := os.WriteFile(filepath.Join(secrets, "islands_admin.password"), []byte(planted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(state, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })

	regions, err := filepath.Abs("../scripts/regions")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(regions, "install")
	cmd.Env = append(os.Environ(), "ISLANDS_STATE="+state)
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/regions install with ISLANDS_STATE owned by uid 65534: %v\n%s", err, out)
	if b, rerr := os.ReadFile(filepath.Join(secrets, "islands_admin.password")); err == nil && rerr == nil && strings.TrimSpace(string(b)) == planted {
		t.Errorf("install accepted a state directory another user owns and kept the admin password that user planted: the world's superuser password is theirs")
	}
}
