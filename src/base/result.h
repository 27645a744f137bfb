// Errors as values. Every fallible call returns Status or Result<T>; nothing on the data path
// throws. An Error carries a category code (Errc) that callers branch on and a message for
// humans and logs.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace shale {

enum class Errc : int {
  kOk = 0,
  kNotFound,         // key, object, stream or file does not exist
  kAlreadyExists,    // create of something that exists; conditional put lost
  kCorruption,       // checksum, magic, version or length check failed
  kIoError,          // the operating system or a remote store reported failure
  kInvalidArgument,  // caller passed something malformed
  kOutOfRange,       // offset or position outside what exists
  kFenced,           // a newer owner epoch exists; this writer must stop
  kConflict,         // compare-and-set precondition failed
  kUnavailable,      // temporarily unable (store down, shutting down); retry may succeed
  kTimeout,
  kResourceExhausted,  // a bounded resource is full (used where waiting is not possible)
  kClosed,             // the object was closed or stopped
  kInternal,
};

const char* errc_name(Errc c);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  std::string to_string() const { return fmt::format("{}: {}", errc_name(code), message); }
};

// Status: success or an Error. Success costs no allocation.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  Status(Errc c, std::string msg) : err_(Error{c, std::move(msg)}) {}

  static Status ok_status() { return Status(); }
  bool ok() const { return err_.code == Errc::kOk; }
  explicit operator bool() const { return ok(); }
  Errc code() const { return err_.code; }
  const Error& error() const { return err_; }
  const std::string& message() const { return err_.message; }
  std::string to_string() const { return ok() ? "OK" : err_.to_string(); }

 private:
  Error err_{Errc::kOk, {}};
};

// Result<T>: a value or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}               // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::move(e)) {}           // NOLINT(google-explicit-constructor)
  Result(Status s) : v_(Error(s.error())) { assert(!s.ok()); }  // NOLINT
  Result(Errc c, std::string msg) : v_(Error{c, std::move(msg)}) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { assert(!ok()); return std::get<Error>(v_); }
  Errc code() const { return ok() ? Errc::kOk : error().code; }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace shale

// Propagate a failed Status/Result from the enclosing function.
#define SHALE_RETURN_IF_ERROR(expr)            \
  do {                                         \
    auto _st = (expr);                         \
    if (!_st.ok()) return ::shale::Status(_st.error()); \
  } while (0)

#define SHALE_CONCAT_INNER(a, b) a##b
#define SHALE_CONCAT(a, b) SHALE_CONCAT_INNER(a, b)
// Declare `lhs` from a Result, or return its error.
#define SHALE_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto SHALE_CONCAT(_res_, __LINE__) = (expr);                             \
  if (!SHALE_CONCAT(_res_, __LINE__).ok())                                 \
    return ::shale::Error(SHALE_CONCAT(_res_, __LINE__).error());          \
  lhs = std::move(SHALE_CONCAT(_res_, __LINE__)).value()
