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
//	pingpong, chanbuf, mutex, select: see the functions of those names below.
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
	"pingpong": {defaultN: 1000000, unit: "ns/roundtrip", run: pingpong, opsPerN: 1},
	"chanbuf":  {defaultN: 10000000, unit: "ns/item", run: chanbuf, opsPerN: 1},
	"mutex":    {defaultN: 10000000, unit: "ns/lock", run: mutex, opsPerN: 1},
	"select":   {defaultN: 1000000, unit: "ns/op", run: selectPingPong, opsPerN: 1},
}

// sleep50/sleep99 report a percentile of time.Sleep(1ms)'s lateness in µs, not a duration
// per operation: see percentileWorkloads.
var percentileWorkloads = map[string]struct {
	defaultN int
	unit     string
	pct      int
}{
	"sleep50": {1000, "us-late-p50", 50},
	"sleep99": {1000, "us-late-p99", 99},
}

func sleepLateness(n int) []float64 {
	late := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, float64(time.Since(t0).Nanoseconds())/1e3-1000)
	}
	sort.Float64s(late)
	return late
}

// pingpong: main and a goroutine bounce a value over two unbuffered channels.
func pingpong(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	return time.Since(start)
}

// chanbuf: one producer goroutine fills a 1024-slot channel, main consumes.
func chanbuf(n int) time.Duration {
	c := make(chan int, 1024)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			c <- i
		}
		close(c)
	}()
	for range c {
	}
	return time.Since(start)
}

// mutex: 4 goroutines each lock, increment and unlock n/4 times.
func mutex(n int) time.Duration {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	start := time.Now()
	wg.Add(4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < n/4; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	if counter != n/4*4 {
		panic("mutex: lost increments")
	}
	return time.Since(start)
}

// selectPingPong: a goroutine selects over two input channels and echoes on a third;
// main alternates between the inputs.
func selectPingPong(n int) time.Duration {
	a, b, reply := make(chan int), make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			select {
			case v := <-a:
				reply <- v
			case v := <-b:
				reply <- v
			}
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			a <- i
		} else {
			b <- i
		}
		<-reply
	}
	return time.Since(start)
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
	for name := range percentileWorkloads {
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
	pw, isPercentile := percentileWorkloads[name]
	w, ok := workloads[name]
	if !ok && !isPercentile {
		usage(fmt.Sprintf("unknown workload %q", name))
	}
	n := w.defaultN
	if isPercentile {
		n = pw.defaultN
	}
	if len(args) == 2 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v <= 0 {
			usage(fmt.Sprintf("bad n %q: want a positive integer", args[1]))
		}
		n = v
	}
	if isPercentile {
		sleepLateness(n / 10) // warm-up
		late := sleepLateness(n)
		idx := len(late) / 2 // the median index, as urgent-bench takes it
		if pw.pct != 50 {
			idx = len(late) * pw.pct / 100
			if idx >= len(late) {
				idx = len(late) - 1
			}
		}
		fmt.Printf("%s %.1f %s\n", name, late[idx], pw.unit)
		return
	}

	// Warm-up (not printed) so both runtimes are measured warm.
	if warm := n / 10; warm > 0 {
		w.run(warm)
	}
	d := w.run(n)
	fmt.Printf("%s %.1f %s\n", name, float64(d.Nanoseconds())/(float64(w.opsPerN)*float64(n)), w.unit)
}
