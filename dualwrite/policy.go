package dualwrite

import "fmt"

// Policy says what a failed write on the follower side (the non-authoritative one) does.
type Policy int

// The failure policies; see the package doc.
const (
	PrimaryAuthoritative Policy = iota
	Strict
	Async
)

var policyNames = [...]string{"primary-authoritative", "strict", "async"}

// String returns the policy's name as it appears in config.
func (p Policy) String() string {
	if p < 0 || int(p) >= len(policyNames) {
		return fmt.Sprintf("policy(%d)", int(p))
	}
	return policyNames[p]
}

// ParsePolicy turns a policy name (primary-authoritative, strict, async) into a Policy.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: use primary-authoritative, strict or async", ErrUnknownPolicy, s)
}
