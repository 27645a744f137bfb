#include "kafka/protocol/errors.h"

#include <string>

namespace shale::kafka {

namespace {

struct ErrorInfo {
  ErrorCode code;
  const char* camel;  // "kNotLeaderOrFollower"
  bool retriable;
  const char* about;
};

constexpr ErrorInfo kErrors[] = {
#define SHALE_KAFKA_ERROR_INFO(name, code, retriable, about) \
  {ErrorCode::name, #name, retriable, about},
    SHALE_KAFKA_ERRORS(SHALE_KAFKA_ERROR_INFO)
#undef SHALE_KAFKA_ERROR_INFO
};

const ErrorInfo* find(ErrorCode e) {
  for (const ErrorInfo& i : kErrors)
    if (i.code == e) return &i;
  return nullptr;
}

// "kNotLeaderOrFollower" -> "NOT_LEADER_OR_FOLLOWER", computed once per code.
std::string upper_snake(const char* camel) {
  std::string out;
  for (const char* p = camel + 1; *p; ++p) {
    if (*p >= 'A' && *p <= 'Z' && !out.empty()) out.push_back('_');
    out.push_back(static_cast<char>(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
  }
  return out;
}

}  // namespace

const char* error_name(ErrorCode e) {
  static const auto* names = [] {
    auto* v = new std::string[std::size(kErrors)];
    for (size_t i = 0; i < std::size(kErrors); ++i) v[i] = upper_snake(kErrors[i].camel);
    return v;
  }();
  for (size_t i = 0; i < std::size(kErrors); ++i)
    if (kErrors[i].code == e) return names[i].c_str();
  return "UNKNOWN";
}

const char* error_message(ErrorCode e) {
  const ErrorInfo* i = find(e);
  return i ? i->about : "";
}

bool error_retriable(ErrorCode e) {
  const ErrorInfo* i = find(e);
  return i && i->retriable;
}

}  // namespace shale::kafka
