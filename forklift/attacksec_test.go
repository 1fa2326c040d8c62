package forklift

import (
	"strings"
	"testing"
)

// Attack (security review): ParseConfig's invariant says "An error never shows a value (a password,
// or a variable holding one)". These configs each hold a password and each error shows it.

// A literal password that starts with '*' (common in generated passwords), left unquoted: the YAML
// parser reads it as an alias and its error quotes it with single quotes, which yamlError does not
// cut (it only cuts the backquoted values of type errors).
func TestAttackSecUnquotedStarPasswordEchoed(t *testing.T) {
	const pw = "*Hunter2-very-secret"
	body := "keyspaces: [ks]\nsource: {hosts: [a], username: u, tls: {ca_file: /etc/ca.pem}}\n" +
		"destination:\n  hosts: [b]\n  username: u\n  password: " + pw + "\n"
	_, err := ParseConfig([]byte(body))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// password_file given where password_env was meant (or a ${VAR} holding the password expanded into
// password_file): the "no such file" error quotes the path, i.e. the password. password_env's
// equivalent mistake is caught ("not shown: it may be the password"); password_file's is not.
func TestAttackSecPasswordFileHoldingThePasswordEchoed(t *testing.T) {
	const pw = "Hunter2-very-secret"
	t.Setenv("FORKLIFT_T_SRC_PW", pw)
	body := "keyspaces: [ks]\ndestination: {hosts: [b]}\n" +
		"source: {hosts: [a], username: u, password_file: \"${FORKLIFT_T_SRC_PW}\", tls: {ca_file: /etc/hosts}}\n"
	c, err := ParseConfig([]byte(body))
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// password_env given the password itself: hidden when it is not shaped like a variable name, but
// a password of capitals, digits and _ (an all-caps generated password) is echoed as "the
// environment variable X is not set".
func TestAttackSecPasswordEnvHoldingCapitalsEchoed(t *testing.T) {
	const pw = "HUNTER2VERYSECRET7Q"
	body := "keyspaces: [ks]\ndestination: {hosts: [b]}\n" +
		"source: {hosts: [a], username: u, password_env: " + pw + ", tls: {ca_file: /etc/hosts}}\n"
	c, err := ParseConfig([]byte(body))
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "HUNTER2") {
		t.Errorf("the error shows the password: %v", err)
	}
}
