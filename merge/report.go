package merge

// Report counts what a resolver decided over many partitions, for forklift's plan --sample and run
// summaries. It marshals to JSON as it is. A Report is not safe for concurrent use: keep one per
// worker and combine them with Merge.
type Report struct {
	Resolver string `json:"resolver"`
	// Partitions seen; BothSides of them held by the destination too (a blind copy passes no
	// destination, so BothSides stays 0); Quarantined of them written nowhere.
	Partitions  int64 `json:"partitions"`
	BothSides   int64 `json:"both_sides"`
	Quarantined int64 `json:"quarantined"`
	// Written counts partitions with something to write; Rows and Cells what was written (a
	// collection element counts as a cell).
	Written int64 `json:"written"`
	Rows    int64 `json:"rows_written"`
	Cells   int64 `json:"cells_written"`
	// Conflicts counts conflicting cells, ByColumn per column name, Kept per outcome ("source",
	// "destination", "merged").
	Conflicts int64            `json:"conflicts"`
	ByColumn  map[string]int64 `json:"conflicts_by_column,omitempty"`
	Kept      map[string]int64 `json:"kept,omitempty"`
	// Samples holds the first MaxSamples conflicts, QuarantineReasons the first MaxSamples reasons.
	MaxSamples        int                `json:"-"`
	Samples           []ConflictSample   `json:"samples,omitempty"`
	QuarantineReasons []QuarantineSample `json:"quarantine_samples,omitempty"`
}

// ConflictSample is one conflicting cell, keys and values in hex.
type ConflictSample struct {
	Key         []string `json:"key"`
	Clustering  []string `json:"clustering"`
	Column      string   `json:"column"`
	Source      JSONCell `json:"source"`
	Destination JSONCell `json:"destination"`
	Kept        string   `json:"kept"`
}

// QuarantineSample is one quarantined partition's key (hex) and reason.
type QuarantineSample struct {
	Key    []string `json:"key"`
	Reason string   `json:"reason"`
}

// NewReport returns an empty report for the named resolver keeping up to maxSamples samples.
func NewReport(resolver string, maxSamples int) *Report {
	return &Report{Resolver: resolver, MaxSamples: maxSamples}
}

// Add counts one partition's resolution; src is the source partition and dst the destination's
// (nil when it holds none or was not read).
func (r *Report) Add(src, dst *Partition, res Resolution) {
	r.Partitions++
	if dst != nil && len(dst.Rows) > 0 {
		r.BothSides++
	}
	var key [][]byte
	if src != nil {
		key = src.Key
	}
	if res.Quarantine != nil {
		r.Quarantined++
		if len(r.QuarantineReasons) < r.MaxSamples {
			r.QuarantineReasons = append(r.QuarantineReasons, QuarantineSample{Key: hexKey(key), Reason: res.Quarantine.Reason})
		}
	}
	if res.Write != nil && len(res.Write.Rows) > 0 {
		r.Written++
		r.Rows += int64(len(res.Write.Rows))
		for i := range res.Write.Rows {
			for _, c := range res.Write.Rows[i].Columns {
				switch {
				case !c.Present:
				case len(c.Elems) > 0:
					r.Cells += int64(len(c.Elems))
				default:
					r.Cells++
				}
			}
		}
	}
	for _, c := range res.Conflicts {
		r.Conflicts++
		if r.ByColumn == nil {
			r.ByColumn = map[string]int64{}
			r.Kept = map[string]int64{}
		}
		r.ByColumn[c.Column]++
		r.Kept[c.Kept]++
		if len(r.Samples) < r.MaxSamples {
			r.Samples = append(r.Samples, ConflictSample{
				Key: hexKey(key), Clustering: hexKey(c.Clustering), Column: c.Column,
				Source: jsonCell(c.Source), Destination: jsonCell(c.Destination), Kept: c.Kept,
			})
		}
	}
}

// Merge adds the counts and samples of o (from another worker) to r, keeping r's sample limit.
func (r *Report) Merge(o *Report) {
	r.Partitions += o.Partitions
	r.BothSides += o.BothSides
	r.Quarantined += o.Quarantined
	r.Written += o.Written
	r.Rows += o.Rows
	r.Cells += o.Cells
	r.Conflicts += o.Conflicts
	for k, v := range o.ByColumn {
		if r.ByColumn == nil {
			r.ByColumn = map[string]int64{}
		}
		r.ByColumn[k] += v
	}
	for k, v := range o.Kept {
		if r.Kept == nil {
			r.Kept = map[string]int64{}
		}
		r.Kept[k] += v
	}
	for _, s := range o.Samples {
		if len(r.Samples) >= r.MaxSamples {
			break
		}
		r.Samples = append(r.Samples, s)
	}
	for _, s := range o.QuarantineReasons {
		if len(r.QuarantineReasons) >= r.MaxSamples {
			break
		}
		r.QuarantineReasons = append(r.QuarantineReasons, s)
	}
}
