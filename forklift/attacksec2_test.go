package forklift

import (
	"strings"
	"testing"
)

// Attack (security review 2): ParseConfig promises "An error never shows a value (a password, or a
// variable holding one)". In a flow mapping — the style docs/security.md itself uses for tls:
// {ca_file: …} — a password entry typed without its ": " (a missing colon, no space after it, or
// "=") is not a YAML error: it parses as a key with a null value, and checkKeys quotes that key,
// i.e. the password, in "unknown key %q". The same when the password is given as a mapping.
func TestAttackSec2FlowMappingTypoEchoesPassword(t *testing.T) {
	const pw = "Hunter2-very-secret"
	for _, entry := range []string{"password " + pw, "password:" + pw, "password=" + pw} {
		body := "keyspaces: [ks]\ndestination: {hosts: [b]}\n" +
			"source: {hosts: [a], username: u, " + entry + ", tls: {ca_file: /etc/islands/ca.pem}}\n"
		_, err := ParseConfig([]byte(body))
		if err == nil {
			t.Fatalf("%q: want an error", entry)
		}
		if strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("%q: the error shows the password: %v", entry, err)
		}
	}
	body := "keyspaces: [ks]\nsource:\n  hosts: [a]\n  username: u\n  password: {" + pw + "}\n"
	if _, err := ParseConfig([]byte(body)); err != nil && strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("password given as a flow mapping: the error shows the password: %v", err)
	}
}

// Attack: a literal password holding "${" and "}" (generated passwords often hold $ and braces) is
// expanded, and the unset-variable error names the "variable" — a piece of the password — and the
// key that says it is one (source.password). password_env's errors hide a name that may be the
// password; the password key's own expansion does not.
func TestAttackSec2PasswordWithBracesEchoesAPiece(t *testing.T) {
	body := "keyspaces: [ks]\nsource:\n  hosts: [a]\n  username: u\n  password: 'x7${Kq9vTz2Lm}w'\n  tls: {ca_file: /etc/islands/ca.pem}\n"
	_, err := ParseConfig([]byte(body))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "Kq9vTz2Lm") {
		t.Errorf("the error shows 9 of the password's 14 characters: %v", err)
	}
}

// What the fix keeps: a key that looks like one is still named (a typo is found at once); a
// literal ${ in a password is written $${; an unset variable in any other key is named.
func TestConfigErrorsStillHelp(t *testing.T) {
	_, err := ParseConfig([]byte("source: {hosts: [a], usernme: u}\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown key "usernme" in source`) {
		t.Errorf("a misspelt key is not named: %v", err)
	}
	_, err = ParseConfig([]byte("source: {hosts: [a], username: u, password: {x: y}}\n"))
	if err == nil || strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "not shown") {
		t.Errorf("a key under password: %v", err)
	}
	cfg, err := ParseConfig([]byte("source: {hosts: [a], username: u, password: 'x7$${Kq9vTz2Lm}w'}\n"))
	if err != nil || cfg.Source.Password.Reveal() != "x7${Kq9vTz2Lm}w" {
		t.Errorf("$${ in a password: err %v, length %d", err, len(cfg.Source.Password.Reveal()))
	}
	_, err = ParseConfig([]byte("source: {hosts: [a], username: u, password: '${FORKLIFT_T_UNSET_PW}'}\n"))
	if err == nil || strings.Contains(err.Error(), "FORKLIFT_T_UNSET_PW") || !strings.Contains(err.Error(), "source.password") {
		t.Errorf("an unset variable in password: %v", err)
	}
	_, err = ParseConfig([]byte("source: {hosts: [a], username: '${FORKLIFT_T_UNSET_USER}'}\n"))
	if err == nil || !strings.Contains(err.Error(), "FORKLIFT_T_UNSET_USER") {
		t.Errorf("an unset variable in username is not named: %v", err)
	}
}
