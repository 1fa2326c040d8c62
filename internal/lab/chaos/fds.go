package chaos

import (
	"os"
	"strconv"
	"syscall"
)

// keepLockToSelf marks every file descriptor this process inherited (beyond stdin, stdout and
// stderr) close-on-exec. A campaign runs under `flock /work/regions.lock …`, whose lock is an
// inherited descriptor: without this, a service the nemesis restarts (scripts/regions restart
// elasticmq) would inherit the lock and hold it for as long as it runs, blocking everyone.
func keepLockToSelf() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
