// tests/test_util.h: helpers shared by the runtime tests.
#pragma once

#include <urgent/urgent.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace urgent::test {

// Runs main under urgent::run with GOMAXPROCS=procs (the environment is how a program
// configures the runtime, so that is what the tests exercise).
template <class F>
int run_with(int procs, F&& main) {
  const char* old = std::getenv("GOMAXPROCS");
  std::string saved = old ? old : "";
  setenv("GOMAXPROCS", std::to_string(procs).c_str(), 1);
  int status = urgent::run(std::forward<F>(main));
  if (old) {
    setenv("GOMAXPROCS", saved.c_str(), 1);
  } else {
    unsetenv("GOMAXPROCS");
  }
  return status;
}

// Yields until pred() holds; false if it did not within `max_yields` (a generous bound that
// only a real bug exhausts: the tests assert on the result instead of hanging).
template <class Pred>
bool yield_until(Pred pred, long max_yields = 100'000'000) {
  for (long i = 0; i < max_yields; i++) {
    if (pred()) return true;
    urgent::gosched();
  }
  return pred();
}

// Sets an environment variable for the scope of one test (the environment is how a program
// configures the runtime).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace urgent::test
