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
// With URGENT_TRACE=<file> set, the whole run is traced with Go's own
// execution tracer (runtime/trace), as urgent-bench traces with urgent's:
// the tracers' costs compare on the same workload.
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
//	sleep50, sleep99  (default n = 1000, units us-late-p50, us-late-p99)
//	       Lateness of time.Sleep(1ms) on an idle runtime, in µs: the median
//	       and the 99th percentile of n sleeps.
//
//	handoff50, handoffmax  (default n = 200, units us-handoff-p50,
//	       us-handoff-max)
//	       Latency of handing the P off from a goroutine blocked in a system
//	       call, in µs: the median and the maximum of n samples. With
//	       GOMAXPROCS(1) (restored afterwards), n times: main starts goroutine
//	       A; A starts goroutine B, takes t0 and blocks in syscall.Read on a
//	       blocking pipe (syscall.Pipe2, not os.Pipe, which would go through
//	       the netpoller); B takes t1 when it starts. main sleeps 20 ms, writes
//	       one byte to the pipe and waits for A and B. A sample is t1 - t0: how
//	       long B waited for the P that A's system call was holding.
//
//	handoff  (default n = 200)
//	       The same samples, printed for humans as one line
//	       "handoff p50 <µs> us p99 <µs> us max <µs> us" (not the <workload> <value>
//	       <unit> format: not for scripts/compare.sh).
//
//	echo  (default n = 2000, unit req/s)
//	       A TCP echo server on 127.0.0.1 (port 0): net.Listen, Accept, one
//	       goroutine per connection that reads and writes back what it read.
//	       The client is the separate program urgent-echo-client
//	       (bench/echo-client.cc; $URGENT_ECHO_CLIENT, else the one next to
//	       this executable), the same one urgent-bench echo runs: 100
//	       connections, each with one 64-byte message in flight, for n ms.
//	       value = the round trips per second it reports (higher is better).
//	       The warm-up is a 200 ms run (not n/10).
//
//	probe50, probe99  (default n = 200, units us-probe-p50, us-probe-p99)
//	       Preemption seen from a sleeper: with GOMAXPROCS(1) (restored
//	       afterwards) one goroutine spins with no calls; main sleeps 1 ms n
//	       times and records how late each sleep returns, in µs (it wakes only
//	       when the spinner is preempted).
//
//	probe  (default n = 200)
//	       The same samples as one line for humans:
//	       "probe p50 <µs> us p99 <µs> us max <µs> us".
//
// To add a workload, write a func(n int) time.Duration that returns the
// wall time of the measured part and register it in the workloads map
// with its default n, its unit and how many operations each unit of n
// stands for (the printed value is duration / (opsPerN * n)).
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// sleep50/sleep99 and handoff50/handoffmax report a percentile of n samples (in µs), not a
// duration per operation: the warm-up takes n/10 samples, the measured run n.
var percentileWorkloads = map[string]struct {
	defaultN int
	unit     string
	pct      int // 50: the median, 100: the maximum (see percentile)
	samples  func(n int) []float64
}{
	"sleep50":    {1000, "us-late-p50", 50, sleepLateness},
	"sleep99":    {1000, "us-late-p99", 99, sleepLateness},
	"handoff50":  {200, "us-handoff-p50", 50, handoffLatency},
	"handoffmax": {200, "us-handoff-max", 100, handoffLatency},
	"probe50":    {200, "us-probe-p50", 50, probeLateness},
	"probe99":    {200, "us-probe-p99", 99, probeLateness},
}

// handoff prints handoffLatency's median and maximum on one line for humans (see the
// package comment); it is not one of the <workload> <value> <unit> workloads.
const handoffDefaultN = 200

// rateWorkloads report a rate measured by run(n) (higher is better), after one warm-up run
// with warmupN.
var rateWorkloads = map[string]struct {
	defaultN int
	warmupN  int
	unit     string
	run      func(n int) float64
}{
	"echo": {2000, 200, "req/s", echo},
}

// writeSamples writes the samples (µs), one per line, to $URGENT_BENCH_SAMPLES if it is set.
func writeSamples(lat []float64) {
	path := os.Getenv("URGENT_BENCH_SAMPLES")
	if path == "" {
		return
	}
	var b strings.Builder
	for _, v := range lat {
		fmt.Fprintf(&b, "%.3f\n", v)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "urgent-bench-go: URGENT_BENCH_SAMPLES: %v\n", err)
		os.Exit(2)
	}
}

// percentile returns the value at index len*pct/100 of sorted (clamped to the last one):
// pct 50 is the median index len/2, as urgent-bench takes it; pct 100 is the maximum.
func percentile(sorted []float64, pct int) float64 {
	idx := len(sorted) * pct / 100
	if idx >= len(sorted) {
		idx = len(sorted) - 1
	}
	return sorted[idx]
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

// probeLateness returns n samples (sorted, in µs) of how late time.Sleep(1ms) returns while
// a goroutine spins without any call at GOMAXPROCS(1): main can only wake when the spinner
// is preempted (by sysmon's SIGURG, every 10-20 ms in Go 1.19).
func probeLateness(n int) []float64 {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		for !stop.Load() { // an intrinsic: no call, no cooperative preemption point
		}
		close(done)
	}()
	late := sleepLateness(n)
	stop.Store(true)
	<-done
	return late
}

// fairnessShares runs four goroutines that spin with no calls at GOMAXPROCS=2 for ms
// milliseconds, each counting its iterations, and returns each one's share of the total
// (urgent-bench's fairness, for urgent-lab's fairness experiment).
func fairnessShares(ms int) []float64 {
	prev := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prev)
	type padded struct {
		n int64
		_ [56]byte
	}
	var counters [4]padded
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(len(counters))
	for i := range counters {
		go func(c *padded) {
			for !stop.Load() {
				c.n++
			}
			wg.Done()
		}(&counters[i])
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	var sum float64
	for i := range counters {
		sum += float64(counters[i].n)
	}
	shares := make([]float64, len(counters))
	for i := range counters {
		shares[i] = float64(counters[i].n) / sum
	}
	return shares
}

// handoffLatency returns n samples (sorted, in µs) of the time a goroutine waits for the P
// that a goroutine blocked in a system call holds: see the package comment.
func handoffLatency(n int) []float64 {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	lat := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		var fds [2]int
		if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
			panic(fmt.Sprintf("handoff: pipe2: %v", err))
		}
		var t0, t1 time.Time
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // A
			go func() { // B
				t1 = time.Now()
				wg.Done()
			}()
			t0 = time.Now()
			var b [1]byte
			if k, err := syscall.Read(fds[0], b[:]); k != 1 || err != nil {
				panic(fmt.Sprintf("handoff: read from the pipe: %d, %v", k, err))
			}
			wg.Done()
		}()
		time.Sleep(20 * time.Millisecond)
		if k, err := syscall.Write(fds[1], []byte{'x'}); k != 1 || err != nil {
			panic(fmt.Sprintf("handoff: write to the pipe: %d, %v", k, err))
		}
		wg.Wait()
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		lat = append(lat, float64(t1.Sub(t0).Nanoseconds())/1e3)
	}
	sort.Float64s(lat)
	return lat
}

// echo runs a TCP echo server for the client program urgent-echo-client, which keeps one
// 64-byte message in flight on each of 100 connections for ms milliseconds, and returns the
// round trips per second the client reports.
func echo(ms int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("echo: %v", err)
	}
	var conns sync.WaitGroup
	var acceptErr error
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					acceptErr = err
				}
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						if _, werr := c.Write(buf[:k]); werr != nil {
							return
						}
					}
					if err != nil {
						return // EOF: the client is done (or reset it)
					}
				}
			}()
		}
	}()

	client := os.Getenv("URGENT_ECHO_CLIENT")
	if client == "" {
		exe, err := os.Executable()
		if err != nil {
			fatalf("echo: cannot find the client next to this executable: %v", err)
		}
		client = filepath.Join(filepath.Dir(exe), "urgent-echo-client")
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(client, strconv.Itoa(port), "100", "64", strconv.Itoa(ms))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	ln.Close()
	<-accepted
	conns.Wait() // the client has exited: every connection saw EOF
	if err != nil {
		fatalf("echo: %s: %v", cmd, err)
	}
	if acceptErr != nil {
		fatalf("echo: accept: %v", acceptErr)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		fatalf("echo: %s printed %q, want a number", cmd, out)
	}
	return v
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "urgent-bench-go: "+format+"\n", args...)
	os.Exit(1)
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
	for name := range rateWorkloads {
		s = append(s, name)
	}
	s = append(s, "fairness", "handoff", "probe")
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
	rw, isRate := rateWorkloads[name]
	isHandoff := name == "handoff"
	isProbe := name == "probe"
	isFairness := name == "fairness"
	w, ok := workloads[name]
	if !ok && !isPercentile && !isRate && !isHandoff && !isProbe && !isFairness {
		usage(fmt.Sprintf("unknown workload %q", name))
	}
	n := w.defaultN
	switch {
	case isPercentile:
		n = pw.defaultN
	case isRate:
		n = rw.defaultN
	case isHandoff:
		n = handoffDefaultN
	case isProbe:
		n = percentileWorkloads["probe50"].defaultN
	case isFairness:
		n = 1000 // ms
	}
	if len(args) == 2 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v <= 0 {
			usage(fmt.Sprintf("bad n %q: want a positive integer", args[1]))
		}
		n = v
	}
	if path := os.Getenv("URGENT_TRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "urgent-bench-go: URGENT_TRACE: %v\n", err)
			os.Exit(2)
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintf(os.Stderr, "urgent-bench-go: trace.Start: %v\n", err)
			os.Exit(2)
		}
		defer func() {
			trace.Stop()
			f.Close()
		}()
	}
	switch {
	case isHandoff:
		handoffLatency(n / 10) // warm-up
		lat := handoffLatency(n)
		writeSamples(lat)
		fmt.Printf("handoff p50 %.1f us p99 %.1f us max %.1f us\n", percentile(lat, 50),
			percentile(lat, 99), percentile(lat, 100))
		return
	case isFairness:
		fmt.Print("fairness shares")
		for _, s := range fairnessShares(n) {
			fmt.Printf(" %.4f", s)
		}
		fmt.Println()
		return
	case isProbe:
		probeLateness(n / 10) // warm-up
		lat := probeLateness(n)
		writeSamples(lat)
		fmt.Printf("probe p50 %.1f us p99 %.1f us max %.1f us\n", percentile(lat, 50),
			percentile(lat, 99), percentile(lat, 100))
		return
	case isPercentile:
		pw.samples(n / 10) // warm-up
		fmt.Printf("%s %.1f %s\n", name, percentile(pw.samples(n), pw.pct), pw.unit)
		return
	case isRate:
		rw.run(rw.warmupN) // warm-up
		fmt.Printf("%s %.1f %s\n", name, rw.run(n), rw.unit)
		return
	}

	// Warm-up (not printed) so both runtimes are measured warm.
	if warm := n / 10; warm > 0 {
		w.run(warm)
	}
	d := w.run(n)
	fmt.Printf("%s %.1f %s\n", name, float64(d.Nanoseconds())/(float64(w.opsPerN)*float64(n)), w.unit)
}
