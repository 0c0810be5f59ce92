// Command urgent-bench-go is the Go twin of urgent's benchmark tool
// (bench/urgent-bench.cc). Both programs share one CLI so that
// scripts/compare.sh can run them side by side:
//
//	urgent-bench-go <workload> [n]
//
// Each invocation does one unmeasured warm-up run with n/10, then one
// measured run with n, and prints exactly one line:
//
//	<workload> <value> <unit>      e.g. "spawn 123.4 ns/goroutine"
//
// An unknown workload or a bad n prints the problem and the valid
// workloads on stderr and exits with status 2.
//
// Workloads:
//
//	spawn  (default n = 1000000, unit ns/goroutine)
//	       Goroutine creation plus completion. main adds n to a WaitGroup,
//	       starts n goroutines that each just call wg.Done, then waits.
//	       value = total wall time / n. Default GOMAXPROCS.
//
//	yield  (default n = 1000000, unit ns/switch)
//	       Cooperative context switch cost on a single P. With
//	       GOMAXPROCS(1), two goroutines each call runtime.Gosched n times;
//	       main waits for both. value = wall time / (2n). GOMAXPROCS is
//	       restored afterwards.
//
// To add a workload, write a func(n int) time.Duration that returns the
// wall time of the measured part and register it in the workloads map
// with its default n, its unit and how many operations each unit of n
// stands for (the printed value is duration / (opsPerN * n)).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// workload describes one benchmark.
type workload struct {
	defaultN int
	unit     string
	// run executes the workload with parameter n and returns the wall time
	// of the measured part.
	run func(n int) time.Duration
	// opsPerN is how many measured operations each unit of n stands for:
	// value = duration / (opsPerN * n).
	opsPerN int
}

var workloads = map[string]workload{
	"spawn": {
		defaultN: 1000000,
		unit:     "ns/goroutine",
		run:      spawn,
		opsPerN:  1,
	},
	"yield": {
		defaultN: 1000000,
		unit:     "ns/switch",
		run:      yield,
		opsPerN:  2,
	},
}

// spawn starts n goroutines that each signal completion and waits for all.
func spawn(n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return time.Since(start)
}

// yield runs two goroutines on one P that each call runtime.Gosched n times.
func yield(n int) time.Duration {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var wg sync.WaitGroup
	body := func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}
	start := time.Now()
	wg.Add(2)
	go body()
	go body()
	wg.Wait()
	return time.Since(start)
}

func names() string {
	var s []string
	for name := range workloads {
		s = append(s, name)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func usage(problem string) {
	fmt.Fprintf(os.Stderr, "urgent-bench-go: %s\n", problem)
	fmt.Fprintf(os.Stderr, "usage: urgent-bench-go <workload> [n]\n")
	fmt.Fprintf(os.Stderr, "workloads: %s\n", names())
	os.Exit(2)
}

func main() {
	args := os.Args[1:]
	if len(args) < 1 || len(args) > 2 {
		usage("expected a workload and an optional n")
	}
	name := args[0]
	w, ok := workloads[name]
	if !ok {
		usage(fmt.Sprintf("unknown workload %q", name))
	}
	n := w.defaultN
	if len(args) == 2 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v <= 0 {
			usage(fmt.Sprintf("bad n %q: want a positive integer", args[1]))
		}
		n = v
	}

	// Warm-up (not printed) so both runtimes are measured warm.
	if warm := n / 10; warm > 0 {
		w.run(warm)
	}
	d := w.run(n)
	fmt.Printf("%s %.1f %s\n", name, float64(d.Nanoseconds())/(float64(w.opsPerN)*float64(n)), w.unit)
}
