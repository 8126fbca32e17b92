#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace vagt {

LoggerPtr make_logger(const std::string& component, const std::string& level) {
  auto existing = spdlog::get(component);
  if (existing) return existing;
  auto logger = spdlog::stderr_color_mt(component);
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  return logger;
}

}  // namespace vagt
