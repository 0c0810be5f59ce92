module urgent/bench/go

go 1.19
