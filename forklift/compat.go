package forklift

import "context"

// Plan opens a Job for cfg, plans it and closes it.
//
// Deprecated: use Open and Job.Plan; kept until internal/demo moves to the handle.
func Plan(ctx context.Context, cfg Config, opts PlanOptions) (*PlanReport, error) {
	j, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Plan(ctx, opts)
}

// Run opens a Job for cfg, runs it and closes it.
//
// Deprecated: use Open and Job.Run; kept until internal/demo moves to the handle.
func Run(ctx context.Context, cfg Config, opts RunOptions) (*RunReport, error) {
	j, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Run(ctx, opts)
}

// Verify opens a Job for cfg, verifies it and closes it.
//
// Deprecated: use Open and Job.Verify; kept until internal/demo moves to the handle.
func Verify(ctx context.Context, cfg Config, opts VerifyOptions) (*VerifyReport, error) {
	j, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Verify(ctx, opts)
}
