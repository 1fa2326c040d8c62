package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's utime and stime (100 on Linux).
const clockTicks = 100

// parsePids parses "name=pid,…"; the bench's own process is always there as "forklift".
func parsePids(s string) map[string]int {
	out := map[string]int{"forklift": os.Getpid()}
	for _, kv := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if pid, err := strconv.Atoi(v); ok && err == nil {
			out[name] = pid
		}
	}
	return out
}

// cpuNow reads each process's CPU seconds (user + system) so far; a process it cannot read is left
// out.
func cpuNow(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3 (state)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64) // field 14
		st, _ := strconv.ParseFloat(f[12], 64) // field 15
		out[name] = (ut + st) / clockTicks
	}
	return out
}

func cpuShare(before, after map[string]float64, wall time.Duration) map[string]float64 {
	out := map[string]float64{}
	for name, a := range after {
		if b, ok := before[name]; ok && wall > 0 {
			out[name] = (a - b) / wall.Seconds()
		}
	}
	return out
}

func formatShare(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.2f", n, m[n])
	}
	return strings.Join(parts, ", ")
}
