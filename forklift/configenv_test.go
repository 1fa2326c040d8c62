package forklift

import (
	"errors"
	"strings"
	"testing"
)

// ${VAR} is expanded in each value after the YAML is parsed: a value is never re-read as YAML, a
// key is never expanded, a $ that does not start ${NAME} stays, and the expanded scalar takes the
// type of its key.
func TestParseConfigExpandsPerValue(t *testing.T) {
	t.Setenv("FORKLIFT_T_HOST", "127.0.0.9")
	t.Setenv("FORKLIFT_T_WORKERS", "7")
	t.Setenv("FORKLIFT_T_INJECT", "x\nworkers: 99")
	t.Setenv("FORKLIFT_T_PW", "pa$$w0rd: [x")
	t.Setenv("b", "SHOULD-NOT-APPEAR")
	cfg, err := ParseConfig([]byte(`source: {hosts: ["${FORKLIFT_T_HOST}:9042", h2], username: u, password: "${FORKLIFT_T_PW}"}
destination: {hosts: [d], password_file: "/run/$b/p$", username: "${FORKLIFT_T_INJECT}"}
workers: ${FORKLIFT_T_WORKERS}
run_id: a$b$$c
checkpoint_keyspace: "$${FORKLIFT_T_HOST}"
tables: [{keyspace: ks, table: t}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Source.Hosts; len(got) != 2 || got[0] != "127.0.0.9:9042" || got[1] != "h2" {
		t.Errorf("hosts %q", got)
	}
	if cfg.Workers != 7 {
		t.Errorf("workers %d, want 7", cfg.Workers)
	}
	if cfg.Source.Password.Reveal() != "pa$$w0rd: [x" {
		t.Errorf("the password changed in expansion (length %d)", len(cfg.Source.Password.Reveal()))
	}
	if cfg.RunID != "a$b$$c" || cfg.Destination.PasswordFile != "/run/$b/p$" {
		t.Errorf("a literal $ changed: run_id %q, password_file %q", cfg.RunID, cfg.Destination.PasswordFile)
	}
	if cfg.Destination.Username != "x\nworkers: 99" {
		t.Errorf("an expanded value was read as YAML: username %q", cfg.Destination.Username)
	}
	if cfg.CheckpointKeyspace != "${FORKLIFT_T_HOST}" {
		t.Errorf("$${ is the escape of a literal ${: got %q", cfg.CheckpointKeyspace)
	}
}

// A YAML error never shows a value: not a ${VAR} that held a password, not a literal one.
func TestParseConfigErrorsShowNoValue(t *testing.T) {
	const pw = "Hunter2-very-secret"
	t.Setenv("FORKLIFT_T_PW", pw)
	for name, body := range map[string]string{
		"type error after expansion":  "source: {hosts: [h], username: u, password: x}\nworkers: ${FORKLIFT_T_PW}\n",
		"type error, literal":         "source: {hosts: [h], username: u}\nworkers: " + pw + "\n",
		"a mapping where a string is": "source: {hosts: [h], username: u, password: {x: " + pw + "}}\n",
		"a sequence value":            "page_size: [" + pw + "]\n",
		"unset variable":              "source: {hosts: [h], username: u, password: \"${FORKLIFT_T_UNSET_X}" + pw + "\"}\n",
		"syntax error":                "source: {hosts: [h], password: " + pw + "\n  : - ]\n",
	} {
		_, err := ParseConfig([]byte(body))
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: want ErrConfig, got %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("%s: the error shows the value: %v", name, err)
		}
	}
}

// An unset variable is an error naming the variable and the key (an empty host or password from
// a typo would otherwise pass as "not set").
func TestParseConfigUnsetVariable(t *testing.T) {
	_, err := ParseConfig([]byte("source: {hosts: [\"${FORKLIFT_T_UNSET_HOST}\"]}\n"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "FORKLIFT_T_UNSET_HOST") || !strings.Contains(err.Error(), "source.hosts") {
		t.Fatalf("got %v", err)
	}
}
