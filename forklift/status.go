package forklift

import (
	"context"
	"time"
)

// StatusReport is a run's progress as its checkpoints tell it, ready for json.Marshal.
type StatusReport struct {
	RunID  string        `json:"run_id"`
	Tables []TableStatus `json:"tables"`
}

// TableStatus is one table's share of a run's checkpoints.
type TableStatus struct {
	Table       string    `json:"table"`
	Ranges      int       `json:"ranges"`
	RangesDone  int       `json:"ranges_done"`
	Rows        int64     `json:"rows"`
	Fraction    float64   `json:"fraction"` // of the token space covered
	LastUpdated time.Time `json:"last_updated"`
}

// Status reads the run's checkpoints from the destination (or WithCheckpoints' store). It writes
// nothing but the checkpoint table's creation if it is missing.
func (j *Job) Status(ctx context.Context) (*StatusReport, error) {
	store, err := j.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := store.Load(ctx, j.cfg.RunID)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{RunID: j.cfg.RunID}
	byTable := map[string]int{}
	cover := map[string][2]float64{}
	for _, cp := range cps {
		i, ok := byTable[cp.Table]
		if !ok {
			i = len(rep.Tables)
			byTable[cp.Table] = i
			rep.Tables = append(rep.Tables, TableStatus{Table: cp.Table})
		}
		ts := &rep.Tables[i]
		ts.Ranges++
		ts.Rows += cp.Rows
		if cp.Done {
			ts.RangesDone++
		}
		if cp.Updated.After(ts.LastUpdated) {
			ts.LastUpdated = cp.Updated
		}
		w := ringShare(cp.Range)
		f := 1.0
		if !cp.Done {
			f = (float64(cp.Last) - float64(cp.Range.Start)) / (float64(cp.Range.End) - float64(cp.Range.Start))
		}
		c := cover[cp.Table]
		cover[cp.Table] = [2]float64{c[0] + f*w, c[1] + w}
	}
	for i := range rep.Tables {
		if c := cover[rep.Tables[i].Table]; c[1] > 0 {
			rep.Tables[i].Fraction = c[0] / c[1]
		}
	}
	return rep, nil
}
