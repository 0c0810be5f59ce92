// runtime/log.h: runtime diagnostics through spdlog (URGENT_LOG=trace|debug|info|warn|...).
// Off by default; logging is only ever done on slow paths (thread start, procresize, ...).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace urgent::rt::log {

// The runtime's logger ("urgent", stderr). Created on first use.
spdlog::logger& logger();
// True if name is a level spdlog knows (trace, debug, info, warn, error, critical, off).
bool valid_level(const std::string& name);
// Sets the level by name (a valid one).
void set_level(const std::string& name);

template <class... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  auto& l = logger();
  if (l.should_log(spdlog::level::debug)) l.debug(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  auto& l = logger();
  if (l.should_log(spdlog::level::info)) l.info(fmt, std::forward<Args>(args)...);
}

template <class... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  auto& l = logger();
  if (l.should_log(spdlog::level::warn)) l.warn(fmt, std::forward<Args>(args)...);
}

}  // namespace urgent::rt::log
