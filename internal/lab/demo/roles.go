package demo

import (
	"context"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/globalcloud/islands/cqlconn"
)

// The demo connects to Cassandra as three roles, as production programs would (package cqlconn;
// the local world's users and password files come from `scripts/regions env`):
//
//   - admin (a superuser): the demo's scaffolding — dropping and creating keyspaces, granting the
//     other two roles, seeding, the keyspace extension, the retirement's DROP, and its own probes
//     (cross-DC visibility, the drain marker, pending hints);
//   - app: the applications — the EU application's dual writes, both applications' writes on the
//     global cluster, and the member checks, which read what a region serves its members;
//   - forklift: every forklift run (plan, passes, verify, the distance step's copies).
//
// Each role holds only what the admin grants it after creating each keyspace, in each cluster
// (the EU island and the global cluster keep separate system_auth): a missing grant stops the
// part that needs it with an error naming the GRANT (forklift and dualwrite check before writing).

// roleParts says what each role does in a run; report.json's roles and demo.log repeat it.
var roleParts = []struct {
	role cqlconn.Role
	part string
}{
	{cqlconn.RoleAdmin, "schema and grants, seeding, keyspace extension, the operator's `islands migration set --wait`, the island's retirement, the demo's probes (visibility, drain, hints)"},
	{cqlconn.RoleApp, "the applications: the EU instances' dual writes (EU island + global) and heartbeats, the applications' writes on the global cluster, the member checks"},
	{cqlconn.RoleForklift, "forklift: plan --sample, both passes (gated on the migration's fleet), verify, the distance step's copies"},
}

// RoleUse is who one part of the run connected to Cassandra as. It never holds a password.
type RoleUse struct {
	Part string `json:"part"`
	Role string `json:"role"`           // admin, app, forklift
	User string `json:"user,omitempty"` // empty in a world without authentication
	As   string `json:"as"`             // user and TLS, as cqlconn.Access.Describe says it
}

// loadRoles reads the three roles' access from the environment and checks what can be checked
// without the network (password files readable, CA a certificate), before anything connects;
// the report and demo.log say who does what.
func (d *run) loadRoles() error {
	d.access = map[cqlconn.Role]cqlconn.Access{}
	for _, p := range roleParts {
		a, err := cqlconn.FromEnv(p.role)
		if err == nil {
			err = a.Validate()
		}
		if err != nil {
			return fmt.Errorf("the %s role: %w", p.role.Name(), err)
		}
		d.access[p.role] = a
		d.rep.Roles = append(d.rep.Roles, RoleUse{Part: p.part, Role: p.role.Name(), User: a.Username, As: a.Describe()})
		d.logger.Info("cassandra role", "role", p.role.Name(), "as", a.Describe(), "for", p.part)
		d.say("Cassandra as %s (%s): %s", p.role.Name(), a.Describe(), p.part)
	}
	return nil
}

// as applies role's access to c; what names the connection in demo.log.
func (d *run) as(role cqlconn.Role, what string, c *gocql.ClusterConfig) error {
	a := d.access[role]
	if err := a.Apply(c); err != nil {
		return fmt.Errorf("%s as %s: %w", what, role.Name(), err)
	}
	d.logger.Debug("cassandra connection", "to", what, "role", role.Name(), "user", a.Username, "tls", a.TLS.On())
	return nil
}

// session connects to c as role; a refusal (credentials, TLS) comes back explained.
func (d *run) session(role cqlconn.Role, what string, c *gocql.ClusterConfig) (*gocql.Session, error) {
	if err := d.as(role, what, c); err != nil {
		return nil, err
	}
	s, err := c.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("connect to %s %v as %s: %w", what, c.Hosts, role.Name(), cqlconn.Explain(err, d.access[role], c.Hosts...))
	}
	return s, nil
}

// grant is one GRANT the demo's administrator gives after creating the keyspaces.
type grant struct {
	global bool // the global cluster; else the EU island
	role   cqlconn.Role
	ks     string
	perms  []string
}

// grants are what the app and forklift roles need, and no more: the applications read and write
// the island, the global keyspace and the control keyspace (the migration's row, their
// heartbeats); forklift reads the island (its source), reads and writes
// the global keyspace and demo_scratch (its destinations), and in its checkpoint keyspace reads,
// writes and creates its tables (what forklift's grants check asks; not ALL).
var grants = []grant{
	{false, cqlconn.RoleApp, islandKS, []string{"SELECT", "MODIFY"}},
	{false, cqlconn.RoleForklift, islandKS, []string{"SELECT"}},
	{true, cqlconn.RoleApp, globalKS, []string{"SELECT", "MODIFY"}},
	{true, cqlconn.RoleForklift, globalKS, []string{"SELECT", "MODIFY"}},
	{true, cqlconn.RoleForklift, scratchKS, []string{"SELECT", "MODIFY"}},
	{true, cqlconn.RoleForklift, fliftKS, []string{"SELECT", "MODIFY", "CREATE"}},
	// The control plane: the EU instances read the migration and write their heartbeats; forklift
	// reads both and records its runs on the migration's row (docs/migration.md).
	{true, cqlconn.RoleApp, controlKS, []string{"SELECT", "MODIFY"}},
	{true, cqlconn.RoleForklift, controlKS, []string{"SELECT", "MODIFY"}},
}

// grantRoles gives the grants through the administrator's sessions of each cluster. Cassandra
// forgets a keyspace's permissions when it is dropped, so this follows every createSchema.
func (d *run) grantRoles(ctx context.Context, global, island *gocql.Session) error {
	for _, g := range grants {
		s := island
		if g.global {
			s = global
		}
		if err := cqlconn.Grant(ctx, s, d.access[g.role], g.ks, g.perms...); err != nil {
			return fmt.Errorf("grant the %s role its permissions: %w", g.role.Name(), err)
		}
	}
	if a := d.access[cqlconn.RoleApp]; a.Username != "" {
		d.logger.Info("granted", "app", a.Username, "forklift", d.access[cqlconn.RoleForklift].Username, "grants", fmt.Sprint(grants))
	}
	return nil
}

func (g grant) String() string {
	where := "island"
	if g.global {
		where = "global"
	}
	return fmt.Sprintf("%s %v on %s (%s)", g.role.Name(), g.perms, g.ks, where)
}
