// runtime/env.h: configuration from the environment, parsed once at urgent::run.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace urgent::rt {

struct Config {
  int gomaxprocs = 1;
  std::size_t stack_size = 0;
  std::string log_level = "off";
};

// The default goroutine stack size: 256 KiB of address space (1 MiB under AddressSanitizer,
// whose redzones make frames larger). Only touched pages are committed.
std::size_t default_stack_size();

// GOMAXPROCS as Go reads it: a positive decimal integer. Returns nullopt for anything else
// (empty, zero, negative, junk, overflow), with *why saying what is wrong.
std::optional<int> parse_gomaxprocs(const char* s, std::string* why);

// A size with an optional unit: 65536, 64k, 64K, 64KiB, 64kb, 1m, 1MiB, 1g ... (powers of
// 1024). Returns nullopt on junk or overflow, with *why.
std::optional<std::size_t> parse_size(const char* s, std::string* why);

// Reads GOMAXPROCS, URGENT_STACK and URGENT_LOG; every invalid value prints one warning line
// to stderr naming the variable and the value used instead.
Config read_config();

// Number of CPUs in the affinity mask (Go's getproccount).
int getproccount();

}  // namespace urgent::rt
