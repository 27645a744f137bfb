#include <spdlog/sinks/stdout_color_sinks.h>

#include "base/log.h"
#include "base/result.h"

namespace shale {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::kOk: return "ok";
    case Errc::kNotFound: return "not_found";
    case Errc::kAlreadyExists: return "already_exists";
    case Errc::kCorruption: return "corruption";
    case Errc::kIoError: return "io_error";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kOutOfRange: return "out_of_range";
    case Errc::kFenced: return "fenced";
    case Errc::kConflict: return "conflict";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kTimeout: return "timeout";
    case Errc::kResourceExhausted: return "resource_exhausted";
    case Errc::kClosed: return "closed";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

void init_logging(const std::string& level) {
  static bool done = false;
  if (!done) {
    auto logger = spdlog::stderr_color_mt("shale");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    done = true;
  }
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace shale
