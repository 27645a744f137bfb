// Crash tests and the randomized model test. A "crash" stops the node at a named crash point
// (no further I/O), drops every unsynced byte of the disk (MemFs::crash) and reboots the WAL,
// the metadata store, the object store and the stream store from what is durable.
// After each recovery: every acknowledged append is readable byte-for-byte at its offset,
// offsets are contiguous from the start, and anything beyond the acknowledged end is exactly
// what was attempted next (an unacknowledged append may survive, never as garbage or a hole).
//
// Replay a model run: STREAM_MODEL_SEED=<seed> [STREAM_MODEL_RUNS=n] ./stream_crash_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "stream/stream_test_util.h"

namespace shale::stream::testing {
namespace {

const char* const kCrashPoints[] = {
    "append.before_wal",  "append.after_wal",     "append.before_ack",     "upload.before_put",
    "upload.after_put",   "upload.after_commit",  "upload.after_wal_trim", "trim.before_commit",
    "trim.after_commit",  "gc.before_mark",       "gc.after_mark",         "gc.before_delete",
    "gc.after_delete",    "compact.before_put",   "compact.after_put",     "compact.after_commit",
    "open.before_commit", "remove.before_commit", "remove.after_commit",
};

// What the test knows about one stream: every attempted batch in offset order (count 1 each).
struct ModelStream {
  StreamId id{0};
  Epoch epoch{1};
  std::vector<Buf> attempted;  // attempted[i] would be offset i
  int64_t acked_end = 0;       // every offset below was acknowledged
  int64_t start = 0;           // lower bound of the stream start the store may report
  bool removed = false;        // remove() was called (it may or may not have committed)
};

class Harness {
 public:
  explicit Harness(uint64_t seed) : rng_(seed) {
    w_.fs.set_crash_torn_tail(true);  // a crash may also leave a torn, unsynced WAL tail
    StoreOptions o = small_options();
    o.compact_min_objects = 2;
    opts_ = o;
    node_ = std::make_unique<Node>(w_.fs, opts_);
    EXPECT_TRUE(node_->boot(*w_.objects, *w_.meta, w_.clock).ok());
  }
  StreamStoreImpl& s() { return node_->store(); }
  Node& node() { return *node_; }
  std::mt19937_64& rng() { return rng_; }

  void add_stream() {
    auto id = s().create();
    ASSERT_TRUE(id.ok()) << id.status().to_string();
    ModelStream m;
    m.id = *id;
    ASSERT_TRUE(s().open(m.id, m.epoch).ok());
    streams_.push_back(m);
  }

  // One synchronous append; false when the node crashed.
  bool append(ModelStream& m, size_t size) {
    if (m.removed) return true;
    if (s().stats().unuploaded_bytes + size + 61 > (48u << 10)) {
      if (!s().upload_once().ok()) return !node_->crashed();
    }
    Buf b = make_batch(rng_, size, w_.clock.wall_ms());
    const size_t attempt = m.attempted.size();
    Buf expect = Buf::copy(b.data(), b.size());
    store_be<int64_t>(expect.mutable_data(), static_cast<int64_t>(attempt));
    m.attempted.push_back(expect);
    auto r = s().append_sync(m.id, m.epoch, b, 1);
    if (!r.ok()) {
      EXPECT_TRUE(node_->crashed()) << r.status().to_string();
      return false;
    }
    EXPECT_EQ(r->base.value(), static_cast<int64_t>(attempt));
    m.acked_end = static_cast<int64_t>(attempt) + 1;
    return true;
  }

  bool ok(const Status& st) {
    if (!st.ok()) {
      EXPECT_TRUE(node_->crashed()) << st.to_string();
    }
    return st.ok();
  }

  void crash_and_recover() {
    node_->kill();
    w_.power_loss();
    node_ = std::make_unique<Node>(w_.fs, opts_);
    ASSERT_TRUE(node_->boot(*w_.objects, *w_.meta, w_.clock).ok());
    verify_all();
    // Reopen every live stream at a higher epoch; continue after what survived.
    for (auto& m : streams_) {
      if (m.removed) continue;
      auto info = s().info(m.id);
      ASSERT_TRUE(info.ok()) << info.status().to_string();
      m.epoch = Epoch(info->epoch.value() + 1);
      auto o = s().open(m.id, m.epoch);
      ASSERT_TRUE(o.ok()) << o.status().to_string();
      m.attempted.resize(static_cast<size_t>(o->end.value()));
      m.acked_end = o->end.value();
    }
  }

  void verify_all() {
    for (auto& m : streams_) verify(m);
  }

  void verify(ModelStream& m) {
    auto info = s().info(m.id);
    if (m.removed && !info.ok()) {
      EXPECT_EQ(info.code(), Errc::kNotFound);
      return;
    }
    ASSERT_TRUE(info.ok()) << info.status().to_string();
    const int64_t end = info->end.value();
    ASSERT_GE(end, m.acked_end) << "lost acknowledged appends of stream " << m.id.value();
    ASSERT_LE(end, static_cast<int64_t>(m.attempted.size())) << "offsets from nowhere";
    ASSERT_GE(info->start.value(), m.start);
    ASSERT_LE(info->start.value(), m.acked_end);
    m.start = info->start.value();
    int64_t at = m.start;
    while (at < end) {
      auto r = s().read_sync(m.id, Offset(at), 1 + (rng_() % 8000));
      ASSERT_TRUE(r.ok()) << r.status().to_string() << " stream " << m.id.value() << " at " << at;
      ASSERT_FALSE(r->batches.empty());
      for (const Buf& b : r->batches) {
        const int64_t base = base_of(b).value();
        ASSERT_EQ(base, at) << "hole or reordering in stream " << m.id.value();
        ASSERT_TRUE(b == m.attempted[static_cast<size_t>(base)]) << "garbage at " << base;
        at++;
      }
    }
    if (m.start > 0) {
      EXPECT_EQ(s().read_sync(m.id, Offset(m.start - 1), 100).code(), Errc::kOutOfRange);
    }
  }

  void trim(ModelStream& m, int64_t to) {
    if (m.removed) return;
    to = std::min(to, m.acked_end);
    if (ok(s().trim(m.id, Offset(to)))) m.start = std::max(m.start, to);
  }

  World w_;
  StoreOptions opts_;
  std::unique_ptr<Node> node_;
  std::vector<ModelStream> streams_;
  std::mt19937_64 rng_;
};

// A fixed script that passes every crash point; the node is armed to die at one of them.
class CrashPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashPointTest, AcknowledgedAppendsSurvive) {
  for (int nth : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << GetParam() << " hit " << nth);
    Harness h(17 + nth);
    for (int i = 0; i < 3; ++i) h.add_stream();
    h.node().arm(GetParam(), nth);
    bool alive = true;
    for (int round = 0; round < 6 && alive; ++round) {
      for (auto& m : h.streams_) {
        for (int k = 0; k < 5 && alive; ++k) alive = h.append(m, 200 + h.rng()() % 900);
      }
      if (!alive) break;
      alive = h.ok(h.s().upload_once());
      if (alive && round == 2) {
        h.trim(h.streams_[0], 7);
        alive = !h.node().crashed();
      }
      if (alive && round == 3) {
        h.streams_[2].removed = true;
        alive = h.ok(h.s().remove(h.streams_[2].id));
      }
      if (alive && round == 4) {
        auto& m = h.streams_[1];
        m.epoch = Epoch(m.epoch.value() + 1);
        auto o = h.s().open(m.id, m.epoch);
        alive = o.ok();
        if (!alive) {
          EXPECT_TRUE(h.node().crashed()) << o.status().to_string();
        }
      }
      if (alive && round == 5) {  // everything uploaded becomes dead: objects get collected
        for (int i = 0; i < 2 && alive; ++i) {
          h.trim(h.streams_[i], h.streams_[i].acked_end);
          alive = !h.node().crashed();
        }
      }
      if (alive) alive = h.ok(h.s().compact_once());
      h.w_.clock.advance(std::chrono::seconds(2));
      if (alive) alive = h.ok(h.s().gc_once());
    }
    // Every point is reached once by the script; some also a second time.
    if (nth == 1) {
      EXPECT_TRUE(h.node().crashed()) << "crash point never reached";
    }
    h.crash_and_recover();
    h.verify_all();
    // The recovered store keeps working: append, upload, read everything again.
    for (auto& m : h.streams_) {
      for (int k = 0; k < 3; ++k) ASSERT_TRUE(h.append(m, 100));
    }
    ASSERT_TRUE(h.s().flush_uploads().ok());
    h.verify_all();
  }
}

INSTANTIATE_TEST_SUITE_P(AllPoints, CrashPointTest, ::testing::ValuesIn(kCrashPoints),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) {
                             if (c == '.') c = '_';
                           }
                           return n;
                         });

// Randomized: appends, reads, trims, uploads, compactions, GC, clean restarts and crashes at
// random crash points, checked against the model after every recovery and at random reads.
TEST(StreamModelTest, RandomSequencesMatchTheModel) {
  uint64_t seed = std::random_device{}();
  if (const char* e = std::getenv("STREAM_MODEL_SEED")) seed = std::strtoull(e, nullptr, 10);
  int runs = 30;
  if (const char* e = std::getenv("STREAM_MODEL_RUNS")) runs = std::atoi(e);
  for (int run = 0; run < runs; ++run) {
    const uint64_t run_seed = seed + static_cast<uint64_t>(run);
    std::printf("stream model test: STREAM_MODEL_SEED=%llu\n",
                static_cast<unsigned long long>(run_seed));
    SCOPED_TRACE(::testing::Message() << "STREAM_MODEL_SEED=" << run_seed);
    Harness h(run_seed);
    auto& rng = h.rng();
    const int nstreams = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < nstreams; ++i) h.add_stream();
    for (int step = 0; step < 400; ++step) {
      auto& m = h.streams_[rng() % h.streams_.size()];
      const int op = static_cast<int>(rng() % 100);
      if (op < 55) {
        h.append(m, 1 + rng() % 1500);
      } else if (op < 70) {
        if (!m.removed && m.acked_end > m.start) {
          int64_t at =
              m.start + static_cast<int64_t>(rng() % static_cast<uint64_t>(m.acked_end - m.start));
          auto r = h.s().read_sync(m.id, Offset(at), 1 + rng() % 5000);
          ASSERT_TRUE(r.ok()) << r.status().to_string();
          ASSERT_FALSE(r->batches.empty());
          ASSERT_EQ(base_of(r->batches[0]).value(), at);
          ASSERT_TRUE(r->batches[0] == m.attempted[static_cast<size_t>(at)]);
        }
      } else if (op < 78) {
        h.ok(h.s().upload_once());
      } else if (op < 82) {
        if (m.acked_end > m.start) {
          h.trim(m, m.start + static_cast<int64_t>(
                                  rng() % static_cast<uint64_t>(m.acked_end - m.start + 1)));
        }
      } else if (op < 86) {
        h.ok(h.s().compact_once());
      } else if (op < 90) {
        h.w_.clock.advance(std::chrono::milliseconds(rng() % 2000));
        h.ok(h.s().gc_once());
      } else if (op < 93) {
        h.node().shutdown();  // clean restart (stop uploads everything)
        h.node_ = std::make_unique<Node>(h.w_.fs, h.opts_);
        ASSERT_TRUE(h.node().boot(*h.w_.objects, *h.w_.meta, h.w_.clock).ok());
        h.verify_all();
        for (auto& x : h.streams_) {
          x.epoch = Epoch(x.epoch.value() + 1);
          ASSERT_TRUE(h.s().open(x.id, x.epoch).ok());
        }
      } else if (!h.node().crashed()) {
        const size_t n = sizeof(kCrashPoints) / sizeof(kCrashPoints[0]);
        h.node().arm(kCrashPoints[rng() % n], 1 + static_cast<int>(rng() % 3));
      }
      if (h.node().crashed()) {
        h.crash_and_recover();
        if (::testing::Test::HasFatalFailure()) return;
        h.node().arm("");
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    h.node().kill();
    h.w_.power_loss();
    h.node_ = std::make_unique<Node>(h.w_.fs, h.opts_);
    ASSERT_TRUE(h.node().boot(*h.w_.objects, *h.w_.meta, h.w_.clock).ok());
    h.verify_all();
  }
}

}  // namespace
}  // namespace shale::stream::testing
