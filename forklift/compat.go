package forklift

import "context"

// Plan opens a Job for cfg, plans it and closes it.
//
// Deprecated: use Open and Job.Plan; kept until internal/demo moves to the handle.
func Plan(ctx context.Context, cfg Config, opts PlanOptions) (*PlanReport, error) {
	return once(ctx, cfg, func(j *Job) (*PlanReport, error) { return j.Plan(ctx, opts) })
}

// Run opens a Job for cfg, runs it and closes it.
//
// Deprecated: use Open and Job.Run; kept until internal/demo moves to the handle.
func Run(ctx context.Context, cfg Config, opts RunOptions) (*RunReport, error) {
	return once(ctx, cfg, func(j *Job) (*RunReport, error) { return j.Run(ctx, opts) })
}

// Verify opens a Job for cfg, verifies it and closes it.
//
// Deprecated: use Open and Job.Verify; kept until internal/demo moves to the handle.
func Verify(ctx context.Context, cfg Config, opts VerifyOptions) (*VerifyReport, error) {
	return once(ctx, cfg, func(j *Job) (*VerifyReport, error) { return j.Verify(ctx, opts) })
}

// once opens a Job, does one thing with it and closes it.
func once[R any](ctx context.Context, cfg Config, do func(*Job) (R, error)) (R, error) {
	j, err := Open(ctx, cfg)
	if err != nil {
		var zero R
		return zero, err
	}
	defer j.Close()
	return do(j)
}
