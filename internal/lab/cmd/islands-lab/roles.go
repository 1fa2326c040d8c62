package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"golang.org/x/crypto/bcrypt"

	"github.com/globalcloud/islands/cqlconn"
)

// rolesCmd sets up the secured world's CQL roles in the cluster at one node (scripts/regions runs
// it at every up, for the global cluster and for the EU island):
//
//	islands-lab roles [-system-auth us-east-1:1,eu-west-1:1] HOST:PORT
//
// First system_auth gets the replication -system-auth names (NetworkTopologyStrategy), before any
// role is written, so the roles land in every DC and a DC cut off from the others keeps
// authenticating (the demo kills cassandra-us; eu-west-1 must still let its clients in). Then:
//
//   - islands_admin: SUPERUSER, LOGIN (the scripts, the tests' schema changes);
//   - islands_app, islands_forklift: LOGIN and no permission: whoever creates a keyspace for them
//     grants what they need on it (an app: SELECT, MODIFY; forklift: per run);
//   - the default superuser cassandra: a random password nobody keeps, LOGIN = false,
//     SUPERUSER = false;
//   - then every role is listed, and one islands did not make that is a superuser (SUPERUSER
//     itself, or granted one that is) or can log in is refused with an error naming it: until the
//     step above, anyone reaching the port could log in as cassandra/cassandra and make one;
//   - then every permission held by a role islands did not make is revoked, and one on islands'
//     roles held by any role but islands_admin is refused (see perms.go).
//
// The user names and password files are those of the ISLANDS_CQL_{ADMIN,APP,FORKLIFT}_* variables
// (scripts/regions env), TLS by ISLANDS_CQL_CA. It logs in as islands_admin; if the cluster refuses
// it (a new cluster: down wipes the data), as cassandra/cassandra. Every step is idempotent, so
// running it again changes nothing but setting each role's password again from its file. No
// password is ever printed.
func rolesCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("roles", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 90*time.Second, "how long to keep trying (a node that just started may not accept auth writes yet)")
	sysAuth := fs.String("system-auth", "", "system_auth's replication, DC:RF,... (NetworkTopologyStrategy); empty: leave it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: islands-lab roles [-system-auth DC:RF,...] HOST:PORT")
	}
	addr := fs.Arg(0)
	repl, err := parseReplication(*sysAuth)
	if err != nil {
		return err
	}
	want, err := wantedRoles()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	last := ""
	altered := false // by this attempt or an earlier one
	for {
		done, err := setupRoles(ctx, addr, repl, want, &altered)
		if err == nil {
			fmt.Fprintf(stdout, "roles at %s: %s\n", addr, strings.Join(done, "; "))
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) || ctx.Err() != nil {
			return fmt.Errorf("roles at %s: %w", addr, err)
		}
		if err.Error() != last { // each new cause once, on stderr; the errors carry no password
			last = err.Error()
			fmt.Fprintf(os.Stderr, "islands: roles at %s: will retry: %v\n", addr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("roles at %s: %w", addr, err)
		case <-time.After(time.Second):
		}
	}
}

// fatalError stops the retries: trying again cannot help.
type fatalError struct{ error }

func (f fatalError) Unwrap() error { return f.error }

// role is one role to have, with its password (read from its file).
type role struct {
	name      string
	superuser bool
	access    cqlconn.Access
	password  string
}

// wantedRoles reads the three roles' names and passwords from the environment.
func wantedRoles() ([]role, error) {
	var roles []role
	for _, r := range []cqlconn.Role{cqlconn.RoleAdmin, cqlconn.RoleApp, cqlconn.RoleForklift} {
		a, err := cqlconn.FromEnv(r)
		if err != nil {
			return nil, err
		}
		if a.Username == "" || !a.TLS.On() {
			return nil, fmt.Errorf("roles: ISLANDS_CQL_%s_USER or ISLANDS_CQL_CA is unset: this is for a secured world (eval \"$(scripts/regions env)\"; ISLANDS_SECURE=1)", r)
		}
		pw, err := password(a)
		if err != nil {
			return nil, err
		}
		roles = append(roles, role{name: a.Username, superuser: r == cqlconn.RoleAdmin, access: a, password: pw})
	}
	return roles, nil
}

// setupRoles is one attempt at the whole set-up; it returns what it did.
func setupRoles(ctx context.Context, addr string, repl map[string]string, want []role, altered *bool) ([]string, error) {
	admin := want[0]
	secrets := []string{}
	for _, r := range want {
		secrets = append(secrets, r.password)
	}
	timeout := 10 * time.Second
	s, err := dialCQL(addr, admin.access, timeout)
	asDefault := false
	if err != nil {
		if !authRefused(err) {
			return nil, err
		}
		// A new cluster: islands_admin does not exist yet.
		var err2 error
		s, err2 = dialCQL(addr, asDefaultSuperuser(admin.access), timeout)
		if err2 != nil {
			if errors.Is(err, cqlconn.ErrBadCredentials) && errors.Is(err2, cqlconn.ErrBadCredentials) {
				return nil, fatalError{fmt.Errorf("neither %s (password in %s) nor the default superuser %s can log in: the cluster's roles were made with other passwords (were the secrets replaced while the world ran? scripts/regions down, then up)",
					admin.name, admin.access.PasswordFile, defaultSuperuser)}
			}
			return nil, fmt.Errorf("%w; as %s: %w", err, defaultSuperuser, err2)
		}
		asDefault = true
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	exec := func(stmt string) error {
		return redact(s.Query(stmt).WithContext(ctx).Exec(), secrets)
	}

	var done []string
	if repl != nil {
		changed, err := replicateSystemAuth(ctx, s, repl)
		if err != nil {
			return nil, err
		}
		*altered = *altered || changed
		verb := "kept"
		if *altered {
			verb = "set to"
		}
		done = append(done, fmt.Sprintf("system_auth %s NetworkTopologyStrategy %s", verb, formatReplication(repl)))
	}

	for _, r := range want {
		if r.superuser && !asDefault {
			continue // the admin we are logged in as: it exists, and may not alter its own superuser status
		}
		if err := ensureRole(ctx, s, addr, r, exec); err != nil {
			return nil, err
		}
	}
	done = append(done, fmt.Sprintf("%s (SUPERUSER, LOGIN)", admin.name))
	for _, r := range want[1:] {
		done = append(done, fmt.Sprintf("%s (LOGIN)", r.name))
	}

	// The default superuser may not take away its own status: do it as the admin, which also
	// checks that the admin can log in.
	if asDefault {
		s.Close()
		s, err = dialAdminRetry(ctx, addr, admin.access, timeout)
		if err != nil {
			return nil, err
		}
	}
	disabled, err := disableDefaultSuperuser(ctx, s, secrets)
	if err != nil {
		return nil, err
	}
	if disabled {
		done = append(done, defaultSuperuser+": new random password, LOGIN = false, SUPERUSER = false")
	} else {
		done = append(done, defaultSuperuser+" already disabled")
	}

	// From the node's start until the lines above, anyone who reached the port could log in as
	// cassandra/cassandra and make a superuser, or a login with every grant, of their own: refuse
	// a cluster that holds one.
	rows, err := readRoles(ctx, s)
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for _, r := range want {
		ours[r.name] = true
	}
	if strangers := strangerRoles(rows, ours); len(strangers) > 0 {
		return nil, strangersError(addr, strangers)
	}
	done = append(done, "no other superuser or login")
	// The grants made in the window go too: a session opened then keeps acting through its role's
	// permissions (scripts/regions then drops every connection opened before this point).
	n, err := lockDownPermissions(ctx, s, addr, ours, admin.name, exec)
	if err != nil {
		return nil, err
	}
	done = append(done, fmt.Sprintf("%d permission(s) of other roles revoked, none on islands' roles", n))
	return done, nil
}

// roleRow is one row of system_auth.roles.
type roleRow struct {
	name     string
	super    bool
	login    bool
	memberOf []string
}

// readRoles reads every role at QUORUM (a role made in one DC of the global cluster is seen from
// the other).
func readRoles(ctx context.Context, s *gocql.Session) ([]roleRow, error) {
	iter := s.Query("SELECT role, is_superuser, can_login, member_of FROM system_auth.roles").WithContext(ctx).Consistency(authReadConsistency).Iter()
	var (
		rows []roleRow
		r    roleRow
	)
	for iter.Scan(&r.name, &r.super, &r.login, &r.memberOf) {
		rows = append(rows, r)
		r = roleRow{}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("listing the roles: %w", err)
	}
	return rows, nil
}

// strangerRoles names, sorted, the roles of rows that are not ours and are superusers (SUPERUSER
// themselves, or granted, through any chain of grants, a role that is: "name (SUPERUSER)") or can
// log in ("name (LOGIN)"). A role that can do neither is inert: it acts only through a login.
func strangerRoles(rows []roleRow, ours map[string]bool) []string {
	super := map[string]bool{}
	for _, r := range rows {
		if r.super {
			super[r.name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, r := range rows {
			if super[r.name] {
				continue
			}
			for _, m := range r.memberOf {
				if super[m] {
					super[r.name], changed = true, true
					break
				}
			}
		}
	}
	var out []string
	for _, r := range rows {
		switch {
		case ours[r.name]:
		case super[r.name]:
			out = append(out, r.name+" (SUPERUSER)")
		case r.login:
			out = append(out, r.name+" (LOGIN)")
		}
	}
	slices.Sort(out)
	return out
}

// strangersError is the refusal of a cluster holding superusers islands did not make.
func strangersError(addr string, strangers []string) error {
	return fatalError{fmt.Errorf("the cluster at %s has role(s) islands did not make that are superusers or can log in: %s. One may have been made through the default superuser "+
		"cassandra/cassandra before roles disabled it, or by hand. Check what it did (LIST ALL PERMISSIONS OF …), then DROP ROLE it as islands_admin "+
		"and run roles again, or start a new world (scripts/regions down, then up)", addr, strings.Join(strangers, ", "))}
}

// ensureRole creates r, or brings an existing r to its password and flags. A password is set only
// when the role's own login with it fails: Cassandra refuses a second password change of a role
// within 5 s ("Password for role … can only be changed every 5000ms"), and each costs a bcrypt.
func ensureRole(ctx context.Context, s *gocql.Session, addr string, r role, exec func(string) error) error {
	flags := fmt.Sprintf("LOGIN = true AND SUPERUSER = %t", r.superuser)
	var name string
	err := s.Query("SELECT role FROM system_auth.roles WHERE role = ?", r.name).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Scan(&name)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		hashed, err := hashedPassword(r.password)
		if err != nil {
			return fmt.Errorf("create role %s: %w", r.name, err)
		}
		if err := exec("CREATE ROLE IF NOT EXISTS " + cqlString(r.name) + " WITH HASHED PASSWORD = " + cqlString(hashed) + " AND " + flags); err != nil {
			return fmt.Errorf("create role %s: %w", r.name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading role %s: %w", r.name, err)
	}
	opts := flags
	if rs, err := dialCQL(addr, r.access, 10*time.Second); err == nil {
		rs.Close()
	} else {
		hashed, err := hashedPassword(r.password)
		if err != nil {
			return fmt.Errorf("alter role %s: %w", r.name, err)
		}
		opts = "HASHED PASSWORD = " + cqlString(hashed) + " AND " + flags
	}
	if err := exec("ALTER ROLE " + cqlString(r.name) + " WITH " + opts); err != nil {
		return fmt.Errorf("alter role %s: %w", r.name, err)
	}
	return nil
}

// dialAdminRetry logs in as the admin just created: a node may take a moment to see the new role.
func dialAdminRetry(ctx context.Context, addr string, a cqlconn.Access, timeout time.Duration) (*gocql.Session, error) {
	for {
		s, err := dialCQL(addr, a, timeout)
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("logging in as %s after creating it: %w", a.Username, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// replicateSystemAuth alters system_auth to NetworkTopologyStrategy with repl unless it has that
// already; it reports whether it changed it.
func replicateSystemAuth(ctx context.Context, s *gocql.Session, repl map[string]string) (bool, error) {
	var have map[string]string
	if err := s.Query("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'").
		WithContext(ctx).Consistency(gocql.One).Scan(&have); err != nil {
		return false, fmt.Errorf("reading system_auth's replication: %w", err)
	}
	wantAll := maps.Clone(repl)
	wantAll["class"] = "org.apache.cassandra.locator.NetworkTopologyStrategy"
	if maps.Equal(have, wantAll) {
		return false, nil
	}
	var parts []string
	for _, dc := range slices.Sorted(maps.Keys(repl)) {
		parts = append(parts, fmt.Sprintf("%s: %s", cqlString(dc), repl[dc]))
	}
	stmt := "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', " + strings.Join(parts, ", ") + "}"
	if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return false, fmt.Errorf("%s: %w", stmt, err)
	}
	return true, nil
}

// authReadConsistency is the consistency of every read roles judges system_auth by: ALL. Right
// after system_auth became NetworkTopologyStrategy, a row written under the old strategy (the
// default superuser, a role or grant made in the window) is on one replica only, and a QUORUM
// read (two of three on the global cluster) may not ask it: the role looked absent ("already
// disabled") while every node still let cassandra/cassandra in. A read at ALL asks every replica
// (roles runs once every node answers, so ALL can be met) and resolves what any of them holds.
const authReadConsistency = gocql.All

// disableDefaultSuperuser takes LOGIN and SUPERUSER from the default superuser and gives it a
// random password nobody keeps, unless that is done already. It reads the role from every
// replica (authReadConsistency). When no replica holds it, it creates it closed: each node makes
// the default role itself, once, some seconds after it starts (retrying while it cannot), and
// writes it at timestamp 0, so one made after this point would otherwise open it again; over a
// row written now, at the current time, that write changes nothing.
func disableDefaultSuperuser(ctx context.Context, s *gocql.Session, secrets []string) (bool, error) {
	var login, super bool
	err := s.Query("SELECT can_login, is_superuser FROM system_auth.roles WHERE role = ?", defaultSuperuser).
		WithContext(ctx).Consistency(authReadConsistency).Scan(&login, &super)
	if err == nil && !login && !super {
		return false, nil
	}
	missing := errors.Is(err, gocql.ErrNotFound)
	if err != nil && !missing {
		return false, fmt.Errorf("reading role %s: %w", defaultSuperuser, err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	pw := hex.EncodeToString(b)
	hashed, err := hashedPassword(pw)
	if err != nil {
		return false, fmt.Errorf("disabling role %s: %w", defaultSuperuser, err)
	}
	opts := " WITH HASHED PASSWORD = " + cqlString(hashed) + " AND LOGIN = false AND SUPERUSER = false"
	stmts := []string{"ALTER ROLE " + cqlString(defaultSuperuser) + opts}
	if missing {
		// Created closed, then altered all the same: a node may make the default role between
		// the read and the CREATE, which IF NOT EXISTS would then leave open.
		stmts = append([]string{"CREATE ROLE IF NOT EXISTS " + cqlString(defaultSuperuser) + opts}, stmts...)
	}
	for _, stmt := range stmts {
		if err := redact(s.Query(stmt).WithContext(ctx).Exec(), append(secrets, pw)); err != nil {
			return false, fmt.Errorf("disabling role %s: %w", defaultSuperuser, err)
		}
	}
	return true, nil
}

// bcryptCost is the cost of the hashes roles makes: Cassandra's own default
// (auth_bcrypt_gensalt_log2_rounds, 10), so a role costs the same to log in as one Cassandra hashed.
const bcryptCost = 10

// hashedPassword is pw's bcrypt hash, for CREATE/ALTER ROLE … WITH HASHED PASSWORD (Cassandra ≥ 4.1).
// Roles never send a password itself: a statement's text is readable by any superuser while it
// runs (system_views.queries), and the roles are made while cassandra/cassandra is still one.
// bcrypt takes at most 72 bytes: a longer password is refused rather than cut.
func hashedPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password (%d bytes; bcrypt takes at most 72): %w", len(pw), err)
	}
	return string(h), nil
}

// cqlString quotes s as a CQL string literal. Role options take no bind markers, so the password
// hashes go into the statement's text this way (and redact keeps the passwords out of any error).
func cqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// redact returns err with every secret in its message replaced; err itself when none occurs (so
// errors.Is keeps working on the driver's errors).
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, cqlconn.Redacted)
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// parseReplication reads "dc1:1,dc2:1" (nil for "").
func parseReplication(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		dc, rf, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(rf)
		if !ok || dc == "" || err != nil || n < 1 {
			return nil, fmt.Errorf("roles: -system-auth %q: want DC:RF,... with RF ≥ 1 (e.g. us-east-1:1,eu-west-1:1)", s)
		}
		m[dc] = strconv.Itoa(n)
	}
	return m, nil
}

func formatReplication(m map[string]string) string {
	var parts []string
	for _, dc := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, dc+":"+m[dc])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
