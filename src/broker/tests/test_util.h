// Helpers for running broker coroutines synchronously in tests.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <optional>

namespace shale::broker::testing {

// Runs `a` on `io` to completion and returns its result.
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> a) {
  std::optional<T> out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(a)); }, asio::detached);
  io.restart();
  io.run();
  return std::move(*out);
}

}  // namespace shale::broker::testing
