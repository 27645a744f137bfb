// Logging: spdlog, one line per event, with the ids that let a reader follow a request.
// Use SHALE_LOG_INFO("wal", "recovered {} records up to pos {}", n, pos) etc. The first argument
// is the subsystem, printed in brackets.
#pragma once

#include <spdlog/spdlog.h>

namespace shale {
// Sets up the default logger (stderr, "[time] [level] [subsystem] message"). Idempotent.
void init_logging(const std::string& level = "info");
}  // namespace shale

#define SHALE_LOG_TRACE(sub, ...) spdlog::trace("[" sub "] " __VA_ARGS__)
#define SHALE_LOG_DEBUG(sub, ...) spdlog::debug("[" sub "] " __VA_ARGS__)
#define SHALE_LOG_INFO(sub, ...) spdlog::info("[" sub "] " __VA_ARGS__)
#define SHALE_LOG_WARN(sub, ...) spdlog::warn("[" sub "] " __VA_ARGS__)
#define SHALE_LOG_ERROR(sub, ...) spdlog::error("[" sub "] " __VA_ARGS__)
