// runtime/tsa.h: clang thread-safety analysis annotations (-Wthread-safety). They expand to
// nothing under GCC, which builds the library. Checked by hand, not by `make test`:
//   for f in runtime/*.cc; do clang++-14 -std=c++20 -fsyntax-only -Wthread-safety
//     -Iruntime/include -Iruntime -Iarch/x86_64 -Ibpf -Ibench -Ibuild/bpf $f; done
// (one command line)
// (it still warns where a lock is released by a callee the annotations do not describe:
// chan.cc's send/recv helpers, select.cc, sema.cc; and on Mutex::try_lock's annotation).
#pragma once

#if defined(__clang__)
#define URGENT_TSA(x) __attribute__((x))
#else
#define URGENT_TSA(x)
#endif

#define CAPABILITY(x) URGENT_TSA(capability(x))
#define GUARDED_BY(x) URGENT_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) URGENT_TSA(pt_guarded_by(x))
#define REQUIRES(...) URGENT_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) URGENT_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) URGENT_TSA(release_capability(__VA_ARGS__))
#define EXCLUDES(...) URGENT_TSA(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS URGENT_TSA(no_thread_safety_analysis)
