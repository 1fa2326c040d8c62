package demo

import (
	"context"

	"github.com/globalcloud/islands/forklift"
)

// withJob opens a forklift Job for cfg, does one thing with it and closes it: each demo step
// (plan, a pass, verify) is one forklift invocation, as it would be with cmd/forklift.
func withJob[R any](ctx context.Context, cfg forklift.Config, do func(*forklift.Job) (R, error)) (R, error) {
	j, err := forklift.Open(ctx, cfg)
	if err != nil {
		var zero R
		return zero, err
	}
	defer j.Close()
	return do(j)
}
