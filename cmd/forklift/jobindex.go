package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/globalcloud/islands/forklift"
)

// jobIndexEnv is the variable a Kubernetes Indexed Job sets in each of its pods: the pod's
// completion index, 0 … completions-1.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

// shardFlags are the two ways a sharded command is told which shard it is:
//
//	--shard i/N            this process is shard i of N (a person, a script)
//	--shard-from-env N     this process is shard $JOB_COMPLETION_INDEX of N (a Kubernetes Indexed
//	                       Job with completions: N and completionMode: Indexed)
//
// The index is read from the environment only when --shard-from-env asks for it, never implicitly:
// a forklift started inside some other Indexed Job does not silently copy a fraction of the ring.
// Every pod of the Job gets the same arguments, and a restarted pod the same shard as the one it
// replaces, so its --resume continues that shard's checkpoints.
type shardFlags struct {
	spec    string // --shard
	fromEnv int    // --shard-from-env; 0 = not given
}

func (s *shardFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.spec, "shard", "", "i/N: this process handles ranges i, i+N, … of N processes sharing the run")
	fs.Func("shard-from-env", "N, the shard count (a whole number ≥ 1): this process is shard $"+jobIndexEnv+" of N (a Kubernetes Indexed Job with completions: N)",
		func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("want the shard count, a whole number ≥ 1, got %q", v)
			}
			s.fromEnv = n
			return nil
		})
}

// resolve returns the shard the flags name; getenv reads the environment (os.Getenv in the program).
func (s *shardFlags) resolve(getenv func(string) string) (forklift.Shard, error) {
	if s.fromEnv == 0 {
		return forklift.ParseShard(s.spec)
	}
	if s.spec != "" {
		return forklift.Shard{}, fmt.Errorf("%w: --shard and --shard-from-env both given: use one", errUsage)
	}
	v := strings.TrimSpace(getenv(jobIndexEnv))
	if v == "" {
		return forklift.Shard{}, fmt.Errorf("%w: --shard-from-env %d: %s is not set (it is set in the pods of a Kubernetes Job with completionMode: Indexed)",
			errUsage, s.fromEnv, jobIndexEnv)
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= s.fromEnv {
		return forklift.Shard{}, fmt.Errorf("%w: --shard-from-env %d: %s=%q is not an index in 0…%d (is the Job's completions %d?)",
			errUsage, s.fromEnv, jobIndexEnv, v, s.fromEnv-1, s.fromEnv)
	}
	return forklift.Shard{Index: i, Count: s.fromEnv}, nil
}
