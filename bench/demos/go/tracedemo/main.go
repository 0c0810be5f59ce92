// tracedemo: the seed's trace demo, the Go twin of bench/demos/tracedemo.cc. Six
// CPU-bound goroutines that Gosched every 500000 iterations (not with -no-gosched) and
// four that sleep 300 ms, at GOMAXPROCS=4, traced with runtime/trace into trace.out
// (-out FILE); read it with `go tool trace`.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/trace"
	"sync"
	"time"
)

func cpuBound(iters int, gosched bool, wg *sync.WaitGroup) {
	defer wg.Done()
	sum := 0
	for i := 0; i < iters; i++ {
		sum += i ^ (i >> 3)
		if gosched && i%500000 == 0 {
			runtime.Gosched()
		}
	}
	_ = sum
}

func ioBlocked(wg *sync.WaitGroup) {
	defer wg.Done()
	time.Sleep(300 * time.Millisecond)
}

func main() {
	noGosched := flag.Bool("no-gosched", false, "the CPU-bound goroutines never yield")
	out := flag.String("out", "trace.out", "trace file")
	scale := flag.Int("scale", 1, "multiply the CPU-bound iterations")
	flag.Parse()
	if *scale < 1 || *scale > 1000 {
		fmt.Fprintln(os.Stderr, "tracedemo-go: -scale wants 1..1000")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(4)
	f, err := os.Create(*out)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	rand.Seed(time.Now().UnixNano())
	cpuG, ioG := 6, 4
	wg.Add(cpuG + ioG)
	for i := 0; i < cpuG; i++ {
		go cpuBound((3_000_000+rand.Intn(1_000_000))*(*scale), !*noGosched, &wg)
	}
	for i := 0; i < ioG; i++ {
		go ioBlocked(&wg)
	}
	wg.Wait()
	trace.Stop()
	fmt.Printf("done; trace written to %s\n", *out)
}
