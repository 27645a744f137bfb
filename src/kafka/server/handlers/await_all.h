// await_all(pendings, timeout): awaits several broker::Pending<T> results, but no longer than
// `timeout` (none = wait for all). Returns one optional per input, in input order; an empty
// optional is a result that had not arrived by the deadline. Nothing is cancelled: a late
// result is still delivered to (and dropped by) the shared state, so the operation behind it
// (e.g. a durable WAL append) completes as if nobody had stopped waiting.
//
// Used by Produce to enforce timeout_ms (acks=all). Threading: call from a coroutine; the
// helpers it spawns run on the caller's executor, so the shared state is single-threaded (the
// Pendings themselves may be completed from any thread, they post back here).
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "broker/async.h"

namespace shale::kafka {

namespace await_all_detail {

template <typename T>
struct Gather {
  explicit Gather(asio::any_io_executor ex, size_t n) : timer(ex), results(n), remaining(n) {}
  // Wakes the waiting coroutine once: when the last result arrives or the deadline passes.
  void finish() {
    if (finished) return;
    finished = true;
    timer.cancel();
    done.set(true);
  }
  asio::steady_timer timer;
  std::vector<std::optional<T>> results;
  size_t remaining;
  bool finished = false;
  broker::Pending<bool> done;
};

template <typename T>
asio::awaitable<void> collect(std::shared_ptr<Gather<T>> g, size_t i, broker::Pending<T> p) {
  T v = co_await p.wait();
  if (g->finished) co_return;  // past the deadline: the answer has gone out without it
  g->results[i] = std::move(v);
  if (--g->remaining == 0) g->finish();
}

}  // namespace await_all_detail

template <typename T>
asio::awaitable<std::vector<std::optional<T>>> await_all(
    std::vector<broker::Pending<T>> pendings, std::optional<std::chrono::milliseconds> timeout) {
  using G = await_all_detail::Gather<T>;
  auto ex = co_await asio::this_coro::executor;
  auto g = std::make_shared<G>(ex, pendings.size());
  if (pendings.empty()) co_return std::move(g->results);
  for (size_t i = 0; i < pendings.size(); ++i) {
    // A plain lambda returning the coroutine (GCC 12 mishandles capturing coroutine lambdas).
    asio::co_spawn(
        ex, [g, i, p = pendings[i]]() { return await_all_detail::collect<T>(g, i, p); },
        asio::detached);
  }
  if (timeout) {
    g->timer.expires_after(*timeout);
    g->timer.async_wait([g](const asio::error_code& ec) {
      if (!ec) g->finish();
    });
  }
  co_await g->done.wait();
  co_return std::move(g->results);
}

}  // namespace shale::kafka
