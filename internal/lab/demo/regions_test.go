package demo

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A descriptor the demo inherited (the regions lock, under flock) must not reach the daemons
// scripts/regions restarts: after closeInheritedFDs a child process does not have it.
func TestInheritedLockNotPassedToChildren(t *testing.T) {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0) // no O_CLOEXEC: as inherited from flock
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	has := func() bool {
		out, err := exec.Command("sh", "-c", "ls /proc/$$/fd").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(string(out)) {
			if f == strconv.Itoa(fd) {
				return true
			}
		}
		return false
	}
	if !has() {
		t.Fatalf("fd %d not inherited even before: the test proves nothing", fd)
	}
	closeInheritedFDs()
	if has() {
		t.Fatalf("fd %d still reaches a child after closeInheritedFDs", fd)
	}
}
