// Bridges between callback/blocking code and asio coroutines.
//
//   run_blocking(pool, fn)  runs a blocking fn() on a bounded pool (metadata, control calls) and
//                           resumes the awaiting coroutine on its own executor with the result.
//   Pending<T>              a one-shot result filled from any thread (e.g. a StreamStore
//                           callback on a store thread) and awaited from an event loop. It lets a
//                           handler start several operations in order, then await them all.
//
// Thread-safety: Pending<T>::set may be called from any thread, exactly once; wait() may be
// awaited by one coroutine. The awaiting coroutine always resumes on its own executor (the
// completion is posted there), never on the thread that called set().
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/execution.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace shale::broker {

// Not coroutines themselves: they return the awaitable made by async_initiate, which owns the
// moved-in state. (GCC 12 miscompiles lambdas with captures passed as coroutine parameters.)
template <typename Fn>
asio::awaitable<std::invoke_result_t<Fn>> run_blocking(asio::thread_pool& pool, Fn fn) {
  using T = std::invoke_result_t<Fn>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      [&pool, fn = std::move(fn)](auto handler) mutable {
        // Tracked: the caller's io_context keeps running while the work is away.
        auto ex = asio::prefer(asio::get_associated_executor(handler),
                               asio::execution::outstanding_work.tracked);
        asio::post(pool, [fn = std::move(fn), handler = std::move(handler), ex]() mutable {
          T r = fn();
          asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable);
}

template <typename T>
class Pending {
 public:
  Pending() : st_(std::make_shared<State>()) {}
  static Pending ready(T v) {
    Pending p;
    p.set(std::move(v));
    return p;
  }

  // Completes the result; wakes the waiter (posting to its executor) if there is one.
  void set(T v) const {
    std::function<void(T)> w;
    {
      std::lock_guard lk(st_->mu);
      if (st_->waiter) {
        w = std::move(st_->waiter);
        st_->waiter = nullptr;
      } else {
        st_->value = std::move(v);
        return;
      }
    }
    w(std::move(v));
  }

  // A callback that completes this Pending; convenient for callback-style APIs.
  std::function<void(T)> setter() const {
    return [p = *this](T v) { p.set(std::move(v)); };
  }

  asio::awaitable<T> wait() const {
    auto st = st_;
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
        [st](auto handler) {
          auto ex = asio::prefer(asio::get_associated_executor(handler),
                                 asio::execution::outstanding_work.tracked);
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          auto deliver = [h, ex](T v) {
            asio::post(ex, [h, v = std::move(v)]() mutable { std::move (*h)(std::move(v)); });
          };
          std::optional<T> ready;
          {
            std::lock_guard lk(st->mu);
            if (st->value) {
              ready = std::move(st->value);
            } else {
              st->waiter = deliver;
            }
          }
          if (ready) deliver(std::move(*ready));
        },
        asio::use_awaitable);
  }

 private:
  struct State {
    std::mutex mu;
    std::optional<T> value;
    std::function<void(T)> waiter;
  };
  std::shared_ptr<State> st_;
};

}  // namespace shale::broker
