package forklift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/globalcloud/islands/migration"
)

// MigrationConfig names the migration (package migration) whose fleet must dual-write before Run
// copies anything: a copy that starts while an instance still writes one side only leaves rows
// that only verify finds.
type MigrationConfig struct {
	// Name of the migration in the control keyspace. Default: none (Run is not gated).
	Name string `yaml:"name"`
	// Keyspace is the control keyspace. Default islands_control.
	Keyspace string `yaml:"keyspace"`
	// Control reaches the cluster holding the control keyspace (its role needs SELECT there and
	// MODIFY on its migrations table). Default: the destination's settings.
	Control ClusterConfig `yaml:"control"`
}

// ErrFleetNotDualWriting: Run refused to start because the migration's live instances do not all
// write both sides yet (migration.ErrNotDualWriting, naming them, is wrapped too).
var ErrFleetNotDualWriting = errors.New("forklift: the migration's fleet does not dual-write yet")

// runGated is Run for a config naming a migration: the fleet gate (overridden by
// RunOptions.Force, logged), forklift's start and end recorded on the migration's row, and Run.
func (j *Job) runGated(ctx context.Context, opts RunOptions) (*RunReport, error) {
	mc := j.cfg.Migration
	cc := mc.Control
	if len(cc.Hosts) == 0 {
		cc = j.cfg.Destination
	} else {
		cc = Config{Source: cc}.withDefaults().Source
	}
	sess, err := connect("migration.control", cc)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st := migration.NewStore(sess, mc.Keyspace)
	f, gerr := migration.ForkliftGate(ctx, st, mc.Name)
	switch {
	case gerr == nil:
		j.log.Info("forklift: every live instance of the migration dual-writes", "migration", mc.Name,
			"epoch", f.State.Epoch, "phase", f.State.Phase, "instances", len(f.All()))
	case opts.Force:
		j.log.Warn("forklift: --force: copying although the migration's fleet does not all dual-write", "migration", mc.Name, "err", gerr)
	case errors.Is(gerr, migration.ErrNotDualWriting):
		return nil, fmt.Errorf("%w: %w (override with --force)", ErrFleetNotDualWriting, gerr)
	default:
		return nil, fmt.Errorf("%w: migration %q: %w (override with --force)", ErrUnreachable, mc.Name, gerr)
	}
	by := "forklift run " + j.cfg.RunID
	if opts.Shard.Count > 1 {
		by += fmt.Sprintf(" shard %d/%d", opts.Shard.Index, opts.Shard.Count)
	}
	if err := st.RecordForklift(ctx, mc.Name, "running", by, time.Now().UTC()); err != nil {
		j.log.Warn("forklift: recording the start in the control keyspace", "err", err)
	}
	opts.gated = true
	rep, err := j.Run(ctx, opts)
	state := "finished"
	switch {
	case errors.Is(err, ErrInterrupted):
		state = "interrupted"
	case err != nil:
		state = "failed: " + err.Error()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := st.RecordForklift(rctx, mc.Name, state, by, time.Now().UTC()); rerr != nil {
		j.log.Warn("forklift: recording the end in the control keyspace", "err", rerr)
	}
	return rep, err
}
