#include "broker/producer_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace shale::broker {

namespace {

constexpr int32_t kNoSequence = -1;

// Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from INT32_MAX to 0.
int32_t increment_sequence(int32_t seq, int32_t by) {
  if (seq > std::numeric_limits<int32_t>::max() - by) {
    return by - (std::numeric_limits<int32_t>::max() - seq) - 1;
  }
  return seq + by;
}

// Kafka's ProducerAppendInfo.inSequence.
bool in_sequence(int32_t last_seq, int32_t next_seq) {
  return static_cast<int64_t>(next_seq) == static_cast<int64_t>(last_seq) + 1 ||
         (next_seq == 0 && last_seq == std::numeric_limits<int32_t>::max());
}

}  // namespace

int32_t ProducerBatch::last_seq() const {
  return increment_sequence(first_seq, last_offset_delta);
}

void ProducerStateTable::push_batch(Entry& e, const BatchMetadata& m) {
  auto at = std::find_if(e.batches.begin(), e.batches.end(),
                         [&](const BatchMetadata& x) { return x.first_offset > m.first_offset; });
  e.batches.insert(at, m);
  while (e.batches.size() > kMaxBatchesPerProducer) e.batches.pop_front();
  e.last_timestamp = std::max(e.last_timestamp, m.timestamp);
}

ProducerStateTable::Check ProducerStateTable::check_and_reserve(const ProducerBatch& b) {
  Check out;
  const int32_t last_seq = b.last_seq();
  auto it = producers_.find(b.producer_id);
  if (it != producers_.end()) {
    Entry& e = it->second;
    // Duplicate of a cached (or in-flight) batch of the same epoch.
    if (b.epoch == e.epoch) {
      for (const auto& m : e.batches) {
        if (m.first_seq == b.first_seq && m.last_seq == last_seq) {
          ++counters_.duplicates;
          out.outcome = Outcome::kDuplicate;
          out.original = m;
          return out;
        }
      }
      for (const auto& r : e.reserved) {
        if (r.epoch == b.epoch && r.first_seq == b.first_seq && r.last_seq == last_seq) {
          ++counters_.duplicates;
          out.outcome = Outcome::kDuplicateInFlight;
          out.ticket = r.ticket;
          return out;
        }
      }
    }
    if (b.epoch < e.epoch) {
      ++counters_.fenced_epochs;
      out.outcome = Outcome::kError;
      out.error = {kerr::kInvalidProducerEpoch,
                   fmt::format("epoch {} of producer {} is older than its current epoch {}",
                               b.epoch, b.producer_id, e.epoch)};
      return out;
    }
    if (b.epoch != e.epoch) {
      if (b.first_seq != 0) {
        ++counters_.out_of_order;
        out.outcome = Outcome::kError;
        out.error = {kerr::kOutOfOrderSequenceNumber,
                     fmt::format("invalid sequence number {} for new epoch {} of producer {} "
                                 "(current epoch {}): a new epoch starts at 0",
                                 b.first_seq, b.epoch, b.producer_id, e.epoch)};
        return out;
      }
      e.epoch = b.epoch;
      e.batches.clear();
    } else {
      int32_t current = kNoSequence;
      for (auto r = e.reserved.rbegin(); r != e.reserved.rend(); ++r) {
        if (r->epoch == e.epoch) {
          current = r->last_seq;
          break;
        }
      }
      if (current == kNoSequence && !e.batches.empty()) current = e.batches.back().last_seq;
      if (!in_sequence(current, b.first_seq)) {
        ++counters_.out_of_order;
        out.outcome = Outcome::kError;
        out.error = {kerr::kOutOfOrderSequenceNumber,
                     fmt::format("out of order sequence number for producer {} (epoch {}): "
                                 "{} (incoming seq), {} (current end seq)",
                                 b.producer_id, b.epoch, b.first_seq, current)};
        return out;
      }
    }
  } else {
    it = producers_.emplace(b.producer_id, Entry{}).first;
    it->second.epoch = b.epoch;
  }
  Reserved r;
  r.ticket = next_ticket_++;
  r.epoch = b.epoch;
  r.first_seq = b.first_seq;
  r.last_seq = last_seq;
  r.timestamp = b.max_timestamp;
  it->second.reserved.push_back(std::move(r));
  ++in_flight_;
  out.outcome = Outcome::kAppend;
  out.ticket = it->second.reserved.back().ticket;
  return out;
}

ProducerStateTable::Waiters ProducerStateTable::complete(int64_t producer_id, uint64_t ticket,
                                                         int64_t first_offset,
                                                         int64_t last_offset) {
  return finish(producer_id, ticket, {}, first_offset, last_offset);
}

ProducerStateTable::Waiters ProducerStateTable::fail(int64_t producer_id, uint64_t ticket,
                                                     const ApiError& why) {
  return finish(producer_id, ticket, why, -1, -1);
}

ProducerStateTable::Waiters ProducerStateTable::finish(int64_t producer_id, uint64_t ticket,
                                                       const ApiError& error, int64_t first_offset,
                                                       int64_t last_offset) {
  Waiters w;
  w.error = error;
  auto it = producers_.find(producer_id);
  if (it == producers_.end()) return w;
  Entry& e = it->second;
  auto r = std::find_if(e.reserved.begin(), e.reserved.end(),
                        [&](const Reserved& x) { return x.ticket == ticket; });
  if (r == e.reserved.end()) return w;
  w.meta = {r->first_seq, r->last_seq, first_offset, last_offset, r->timestamp};
  w.fns = std::move(r->waiters);
  if (error.ok() && r->epoch == e.epoch) push_batch(e, w.meta);
  e.reserved.erase(r);
  --in_flight_;
  if (e.reserved.empty() && e.batches.empty()) producers_.erase(it);
  return w;
}

bool ProducerStateTable::wait_for(int64_t producer_id, uint64_t ticket, DuplicateWaiter fn) {
  auto it = producers_.find(producer_id);
  if (it == producers_.end()) return false;
  for (auto& r : it->second.reserved) {
    if (r.ticket == ticket) {
      r.waiters.push_back(std::move(fn));
      return true;
    }
  }
  return false;
}

void ProducerStateTable::replay(const ProducerBatch& b, int64_t first_offset, int64_t last_offset) {
  Entry& e = producers_[b.producer_id];
  if (!e.batches.empty() && last_offset <= e.batches.back().last_offset) return;  // known
  if (b.epoch != e.epoch) {
    e.epoch = b.epoch;
    e.batches.clear();
  }
  push_batch(e, {b.first_seq, b.last_seq(), first_offset, last_offset, b.max_timestamp});
}

size_t ProducerStateTable::expire(int64_t now_ms, int64_t expiration_ms) {
  size_t n = std::erase_if(producers_, [&](const auto& kv) {
    const Entry& e = kv.second;
    return e.reserved.empty() && now_ms - e.last_timestamp >= expiration_ms;
  });
  counters_.expired += n;
  return n;
}

std::vector<BatchMetadata> ProducerStateTable::batches(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  if (it == producers_.end()) return {};
  return {it->second.batches.begin(), it->second.batches.end()};
}

int16_t ProducerStateTable::epoch(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? int16_t{-1} : it->second.epoch;
}

// Snapshot format (JSON, version 1):
//   {"version":1,"producers":[{"id":P,"epoch":E,"last_ts":T,
//                              "batches":[[first_seq,last_seq,first_offset,last_offset,ts],...]}]}
std::string ProducerStateTable::encode() const {
  nlohmann::json ps = nlohmann::json::array();
  for (const auto& [id, e] : producers_) {
    if (e.batches.empty()) continue;
    nlohmann::json bs = nlohmann::json::array();
    for (const auto& m : e.batches) {
      bs.push_back({m.first_seq, m.last_seq, m.first_offset, m.last_offset, m.timestamp});
    }
    ps.push_back({{"id", id}, {"epoch", e.epoch}, {"last_ts", e.last_timestamp}, {"batches", bs}});
  }
  nlohmann::json j = {{"version", 1}, {"producers", ps}};
  return j.dump();
}

Result<ProducerStateTable> ProducerStateTable::decode(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 ||
      !j.contains("producers") || !j["producers"].is_array()) {
    return Status(Errc::kCorruption, "producer state snapshot: not a version 1 object");
  }
  ProducerStateTable t;
  for (const auto& p : j["producers"]) {
    if (!p.is_object() || !p.contains("id") || !p.contains("batches") || !p["batches"].is_array() ||
        !p["id"].is_number_integer()) {
      return Status(Errc::kCorruption, "producer state snapshot: bad producer entry");
    }
    Entry e;
    if (!p.value("epoch", nlohmann::json(0)).is_number_integer() ||
        !p.value("last_ts", nlohmann::json(0)).is_number_integer()) {
      return Status(Errc::kCorruption, "producer state snapshot: bad epoch or timestamp");
    }
    e.epoch = p.value("epoch", int16_t{-1});
    e.last_timestamp = p.value("last_ts", int64_t{-1});
    for (const auto& b : p["batches"]) {
      if (!b.is_array() || b.size() != 5 ||
          !std::all_of(b.begin(), b.end(), [](const auto& x) { return x.is_number_integer(); })) {
        return Status(Errc::kCorruption, "producer state snapshot: bad batch entry");
      }
      e.batches.push_back({b[0].get<int32_t>(), b[1].get<int32_t>(), b[2].get<int64_t>(),
                           b[3].get<int64_t>(), b[4].get<int64_t>()});
    }
    t.producers_[p["id"].get<int64_t>()] = std::move(e);
  }
  return t;
}

}  // namespace shale::broker
