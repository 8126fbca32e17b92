#pragma once

// One spdlog logger per component, created at startup and passed to whoever
// logs. Never log keys, passwords, payloads or patient identifiers.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace vagt {

using LoggerPtr = std::shared_ptr<spdlog::logger>;

// A stderr logger (journald picks it up under systemd). `level` is one of
// trace, debug, info, warn, error, critical, off.
LoggerPtr make_logger(const std::string& component, const std::string& level = "info");

}  // namespace vagt
