// runtime/log.cc: the runtime's spdlog logger.
#include "log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace urgent::rt::log {

spdlog::logger& logger() {
  static spdlog::logger* l = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto* lg = new spdlog::logger("urgent", sink);
    lg->set_pattern("[urgent %H:%M:%S.%f] [%l] [tid %t] %v");
    lg->set_level(spdlog::level::off);
    return lg;
  }();
  return *l;
}

bool valid_level(const std::string& name) {
  // from_str maps unknown names to off; "off" itself is valid.
  return name == "off" || spdlog::level::from_str(name) != spdlog::level::off;
}

void set_level(const std::string& name) {
  logger().set_level(spdlog::level::from_str(name));
}

}  // namespace urgent::rt::log
