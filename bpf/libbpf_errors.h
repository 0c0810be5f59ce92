// bpf/libbpf_errors.h: libbpf's messages turned into one line of error. For its scope, libbpf
// prints into a buffer instead of stderr; why() names the step, the errno and libbpf's last
// message. (One loader at a time per thread.)
#pragma once

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace urgent::bpf {

// "" if the kernel has BTF (every program here is CO-RE), else why not, in one line.
inline std::string btf_missing() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) return "";
  return "no kernel BTF (/sys/kernel/btf/vmlinux: " + std::string(std::strerror(errno)) +
         "): urgent's BPF programs are CO-RE programs and need a kernel built with "
         "CONFIG_DEBUG_INFO_BTF";
}

class LibbpfErrors {
 public:
  LibbpfErrors() : old_(libbpf_set_print(capture)) { log() = &text_; }
  ~LibbpfErrors() {
    libbpf_set_print(old_);
    log() = nullptr;
  }
  LibbpfErrors(const LibbpfErrors&) = delete;
  LibbpfErrors& operator=(const LibbpfErrors&) = delete;

  // "step: strerror(err) (needs root ...) [libbpf: last message]".
  std::string why(const char* step, int err) const {
    err = err < 0 ? -err : err;
    std::string why = std::string(step) + ": " + std::strerror(err);
    if (err == EPERM || err == EACCES) {
      why += " (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON)";
    }
    std::string detail = last_line(text_);
    if (!detail.empty()) why += " [libbpf: " + detail + "]";
    return why;
  }

 private:
  static std::string*& log() {
    static thread_local std::string* current = nullptr;
    return current;
  }
  static int capture(enum libbpf_print_level level, const char* fmt, va_list args) {
    std::string* out = log();
    if (out == nullptr || level == LIBBPF_DEBUG) return 0;
    char buf[512];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    if (out->size() < 4096) *out += buf;
    return n;
  }
  static std::string last_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    std::size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }
  libbpf_print_fn_t old_;
  std::string text_;
};

}  // namespace urgent::bpf
