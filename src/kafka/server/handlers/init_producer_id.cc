// InitProducerId (key 22), v0-5: producer ids for idempotent producers (no transactions yet).
//
//   transactional_id null  -> a fresh id from the broker's ProducerIdAllocator, epoch 0 (ids are
//                             claimed in blocks by compare-and-set in the metadata store, so no
//                             two brokers hand out the same id).
//   v3+ with producer_id/epoch set (KIP-360: the client asks to bump its epoch after an
//                             unresolved sequence) -> the same id with epoch + 1 if that id was
//                             handed out; a fresh id (epoch 0) when the epoch would reach
//                             INT16_MAX - 1 (Kafka's exhaustion rule) or the id is unknown.
//                             Only one of the two set -> INVALID_REQUEST.
//   transactional_id ""    -> INVALID_REQUEST (Kafka's TransactionCoordinator).
//   transactional_id set   -> TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53). Shale has no
//                             transaction coordinator; 53 is the answer of a Kafka broker that
//                             does not let this client use transactions, and clients report it
//                             as a fatal, clear error (librdkafka: "Transactional Id
//                             authorization failed") instead of retrying forever, as they would
//                             on COORDINATOR_NOT_AVAILABLE. FindCoordinator(key_type=1) already
//                             answers COORDINATOR_NOT_AVAILABLE.
// Note: Apache Kafka ignores producer_id/epoch when transactional_id is null (it always returns
// a new id). Bumping instead is equivalent for clients (a new epoch restarts sequences at 0) and
// keeps one id per producer session.
// Claiming a block (one metadata round trip per 1000 ids) runs on the control pool; an id from
// the current block is handed out without leaving the event loop.
#include "kafka/protocol/gen/init_producer_id.h"

#include <limits>

#include "base/log.h"
#include "broker/async.h"
#include "broker/broker.h"
#include "kafka/protocol/errors.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;
static_assert(kerr::kTransactionalIdAuthorizationFailed ==
              to_wire(ErrorCode::kTransactionalIdAuthorizationFailed));
static_assert(kerr::kInvalidRequest == to_wire(ErrorCode::kInvalidRequest));

// Kafka bumps until Short.MaxValue - 1, then hands out a new producer id.
constexpr int16_t kMaxBumpableEpoch = std::numeric_limits<int16_t>::max() - 1;

struct Allocated {
  int16_t error = kerr::kNone;
  int64_t producer_id = -1;
  int16_t epoch = -1;
};

// Blocking (control pool): a bump of (pid, epoch) when allowed, else a fresh id.
Allocated allocate_blocking(broker::ProducerIdAllocator& ids, int64_t pid, int16_t epoch) {
  if (pid >= 0 && epoch < kMaxBumpableEpoch) {
    auto known = ids.known_blocking(pid);
    if (known.ok() && *known) return {kerr::kNone, pid, static_cast<int16_t>(epoch + 1)};
    if (known.ok()) SHALE_LOG_INFO("kafka", "InitProducerId: unknown producer id {}", pid);
  }
  auto id = ids.next_blocking();
  if (!id.ok()) {
    SHALE_LOG_WARN("kafka", "InitProducerId: {}", id.error().to_string());
    return {to_wire(ErrorCode::kCoordinatorNotAvailable)};
  }
  return {kerr::kNone, *id, 0};
}

asio::awaitable<Result<ResponseBody>> handle_init_producer_id(RequestContext& ctx) {
  auto req = decode_request<InitProducerIdRequest>(ctx);
  if (!req.ok()) co_return req.error();
  InitProducerIdResponse resp;
  resp.producer_id = -1;
  resp.producer_epoch = -1;
  const int64_t pid = req->producer_id;
  const int16_t epoch = req->producer_epoch;
  if (req->transactional_id && req->transactional_id->empty()) {
    resp.error_code = kerr::kInvalidRequest;
  } else if (req->transactional_id) {
    SHALE_LOG_INFO("kafka", "InitProducerId from {} for transactional id '{}': not supported",
                   ctx.conn.peer, *req->transactional_id);
    resp.error_code = kerr::kTransactionalIdAuthorizationFailed;
  } else if ((pid == -1) != (epoch == -1) || pid < -1 || epoch < -1) {
    resp.error_code = kerr::kInvalidRequest;
  } else {
    auto& ids = ctx.broker.producer_ids();
    Allocated a;
    if (auto fast = pid < 0 ? ids.try_next() : std::nullopt; fast) {
      a = {kerr::kNone, *fast, 0};
    } else {
      auto work = broker::run_blocking(ctx.broker.control_pool(), [&ids, pid, epoch] {
        return allocate_blocking(ids, pid, epoch);
      });
      a = co_await std::move(work);
    }
    resp.error_code = a.error;
    resp.producer_id = a.producer_id;
    resp.producer_epoch = a.epoch;
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kInitProducerId, handle_init_producer_id, 0, 5);

}  // namespace shale::kafka
