// Command schedtrace is the seed's schedtrace demo (twin: bench/demos/schedtrace.cc): 20
// goroutines each sleep one second and then count to n (default 300000000; the seed counts
// to 1e10, which takes minutes on two CPUs). Run it with GODEBUG=schedtrace=1000 to watch
// the global and local run queues fill and drain.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var wg sync.WaitGroup

func work(n int) {
	defer wg.Done()
	time.Sleep(time.Second)
	var counter int
	for i := 0; i < n; i++ {
		counter++
	}
	_ = counter
}

func main() {
	n := 300000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 0 {
			fmt.Fprintf(os.Stderr, "schedtrace: bad count %q: want a non-negative integer\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go work(n)
	}
	wg.Wait()
}
