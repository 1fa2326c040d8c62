package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/globalcloud/islands/migration"
)

// MigrationFault flips the migration the EU writers are instances of between dual and
// dual-flipped through its control plane, as an operator's `islands migration set NAME PHASE
// --wait` does: migration.Change (the epoch LWT), then migration.Wait until every live instance
// applied the new epoch. It records "set PHASE" with the new epoch once the change is made, and
// "applied PHASE" with the epoch when the wait returned (with the error when it did not): the
// checker's epoch rule starts at that line. Flips run one at a time, in schedule order.
type MigrationFault struct {
	Store *migration.Store
	Name  string
	// WaitFor bounds the wait (an instance paused past it makes the wait fail, which the history
	// records; the change stays made, as the command's does).
	WaitFor time.Duration
	Rec     *Recorder

	mu sync.Mutex
}

// Targets implements Fault.
func (f *MigrationFault) Targets() []Target {
	return []Target{{Kind: KindPhase, Name: "migration", Weight: 2}}
}

// Start implements Fault: the phase moves to the other dual phase, then the flip waits for the
// fleet. Only a change that could not be made is a failed injection.
func (f *MigrationFault) Start(ctx context.Context, _ Step) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, _, err := f.Store.Phase(ctx, f.Name)
	if err != nil {
		return fmt.Errorf("chaos: migration %s: %w", f.Name, err)
	}
	to := "dual-flipped"
	if cur == "dual-flipped" {
		to = "dual"
	}
	st, err := migration.Change(ctx, f.Store, f.Name, to, "chaos-nemesis", false)
	if err != nil {
		return fmt.Errorf("chaos: migration set %s %s: %w", f.Name, to, err)
	}
	f.Rec.Record(Op{Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "set " + to, Epoch: st.Epoch})
	wctx, cancel := context.WithTimeout(ctx, f.WaitFor)
	_, werr := migration.Wait(wctx, f.Store, f.Name, st.Epoch, 100*time.Millisecond)
	cancel()
	op := Op{Type: NemesisEvent, Process: "nemesis", F: KindPhase, Target: "migration", Value: "applied " + to, Epoch: st.Epoch}
	if werr != nil {
		op.Err = werr.Error()
	}
	f.Rec.Record(op)
	return nil
}

// Stop implements Fault (a flip is instantaneous).
func (f *MigrationFault) Stop(context.Context, Step) error { return nil }

// HealAll implements Fault: the phase stays where it is (both dual phases are healthy).
func (f *MigrationFault) HealAll(context.Context) error { return nil }
