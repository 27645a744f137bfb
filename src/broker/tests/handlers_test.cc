// The broker's Kafka handlers (kafka/server/handlers/{produce,fetch,list_offsets,delete_records,
// offset_for_leader_epoch}.cc) driven through the handler registry with encoded requests, over
// the fake stores. Responses are decoded with the generated codec.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "broker/broker.h"
#include "broker/tests/fakes.h"
#include "broker/tests/test_util.h"
#include "kafka/protocol/gen/delete_records.h"
#include "kafka/protocol/gen/fetch.h"
#include "kafka/protocol/gen/list_offsets.h"
#include "kafka/protocol/gen/offset_for_leader_epoch.h"
#include "kafka/protocol/gen/produce.h"
#include "kafka/protocol/request_header.h"
#include "kafka/records/records.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

namespace rec = records;
using broker::testing::run;

Buf batch(int n, int64_t ts = 1000, rec::Compression c = rec::Compression::kNone) {
  rec::BatchBuilder::Options o;
  o.base_timestamp = ts;
  rec::BatchBuilder b(o);
  if (c != rec::Compression::kNone) {
    std::vector<uint8_t> opaque(40, 7);
    return b.build_opaque(c, opaque, n, ts);
  }
  for (int i = 0; i < n; ++i) b.add("key", "value-" + std::to_string(i), ts + i);
  return b.build();
}

Buf concat(const std::vector<Buf>& parts) {
  std::vector<uint8_t> v;
  for (const auto& p : parts) v.insert(v.end(), p.data(), p.data() + p.size());
  return Buf::take(std::move(v));
}

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<broker::Broker>(broker::BrokerConfig{}, meta_, store_, clock_);
    ASSERT_TRUE(broker_->start().ok());
    auto r = run(io_, broker_->topics().create_topic({.name = "t", .num_partitions = 2}, false));
    ASSERT_TRUE(r.error.ok());
    topic_id_ = r.topic.id;
  }

  // Runs the registered handler of `api` on `body` at `version`.
  Result<ResponseBody> call(int16_t api, int16_t version, Buf body) {
    RequestHeader h;
    h.request_api_key = api;
    h.request_api_version = version;
    const HandlerEntry* e = HandlerRegistry::instance().find(api);
    EXPECT_NE(e, nullptr);
    RequestContext ctx{h, std::move(body), conn_, *broker_, config_};
    return run(io_, e->fn(ctx));
  }
  template <typename Req>
  Result<ResponseBody> call(int16_t api, int16_t version, const Req& req) {
    Writer w;
    EXPECT_TRUE(req.encode(w, version).ok());
    return call(api, version, concat(w.finish_parts()));
  }
  template <typename Resp>
  Resp decode(const Result<ResponseBody>& body, int16_t version) {
    EXPECT_TRUE(body.ok());
    Resp resp;
    Reader r(concat(body->parts));
    EXPECT_TRUE(resp.decode(r, version).ok());
    EXPECT_EQ(r.remaining(), 0u);
    return resp;
  }

  ProduceResponse produce(int16_t v, std::string topic, int32_t p, std::optional<Buf> records,
                          int16_t acks = -1) {
    ProduceRequest req;
    req.acks = acks;
    req.timeout_ms = 1000;
    auto& td = req.topic_data.emplace_back();
    td.name = std::move(topic);
    auto& pd = td.partition_data.emplace_back();
    pd.index = p;
    pd.records = std::move(records);
    return decode<ProduceResponse>(call(0, v, req), v);
  }

  FetchRequest fetch_req(int64_t offset, int32_t max_wait = 0, int32_t min_bytes = 0) {
    FetchRequest req;
    req.max_wait_ms = max_wait;
    req.min_bytes = min_bytes;
    auto& t = req.topics.emplace_back();
    t.topic = "t";
    t.topic_id = Uuid{topic_id_.bytes};
    auto& p = t.partitions.emplace_back();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    return req;
  }
  FetchResponse fetch(int16_t v, const FetchRequest& req) {
    return decode<FetchResponse>(call(1, v, req), v);
  }

  asio::io_context io_;
  broker::testing::FakeMetaStore meta_;
  broker::testing::FakeStreamStore store_;
  ManualClock clock_;
  std::unique_ptr<broker::Broker> broker_;
  broker::Uuid topic_id_;
  ConnectionInfo conn_;
  ServerConfig config_;
};

TEST_F(HandlersTest, ProduceThenFetchAcrossVersions) {
  Buf a = batch(3);
  auto r = produce(7, "t", 0, a);
  ASSERT_EQ(r.responses.size(), 1u);
  auto& pr = r.responses[0].partition_responses[0];
  EXPECT_EQ(pr.error_code, 0);
  EXPECT_EQ(pr.base_offset, 0);
  EXPECT_EQ(pr.log_append_time_ms, -1);
  auto r2 = produce(9, "t", 0, batch(2));  // flexible encoding
  EXPECT_EQ(r2.responses[0].partition_responses[0].base_offset, 3);

  for (int16_t v : {4, 7, 11, 12, 13, 16}) {
    auto f = fetch(v, fetch_req(0));
    ASSERT_EQ(f.responses.size(), 1u) << v;
    const auto& pd = f.responses[0].partitions[0];
    EXPECT_EQ(pd.error_code, 0) << v;
    EXPECT_EQ(pd.high_watermark, 5) << v;
    ASSERT_TRUE(pd.records.has_value());
    auto batches = rec::split_batches(*pd.records);
    ASSERT_TRUE(batches.error.ok());
    ASSERT_EQ(batches.batches.size(), 2u) << v;
    // The produced bytes, with base offset 0 and the leader epoch stamped (bytes 12..15).
    EXPECT_EQ(batches.batches[0].slice(16), a.slice(16));
    EXPECT_EQ(rec::read_header(batches.batches[0].span())->partition_leader_epoch, 1);
    EXPECT_EQ(rec::read_header(batches.batches[1].span())->base_offset, 3);
    if (v >= 13) {
      EXPECT_EQ(f.responses[0].topic_id.bytes, topic_id_.bytes);
    } else {
      EXPECT_EQ(f.responses[0].topic, "t");
    }
  }
}

TEST_F(HandlersTest, ProduceErrorsMatchKafka) {
  EXPECT_EQ(produce(7, "nope", 0, batch(1)).responses[0].partition_responses[0].error_code,
            broker::kerr::kUnknownTopicOrPartition);
  EXPECT_EQ(produce(7, "t", 9, batch(1)).responses[0].partition_responses[0].error_code,
            broker::kerr::kUnknownTopicOrPartition);
  auto two = concat({batch(1), batch(1)});
  auto r = produce(8, "t", 0, two);
  EXPECT_EQ(r.responses[0].partition_responses[0].error_code, broker::kerr::kInvalidRecord);
  EXPECT_TRUE(r.responses[0].partition_responses[0].error_message.has_value());
  EXPECT_EQ(produce(7, "t", 0, std::nullopt).responses[0].partition_responses[0].error_code,
            broker::kerr::kInvalidRecord);
  EXPECT_EQ(produce(6, "t", 0, batch(1, 1000, rec::Compression::kZstd))
                .responses[0]
                .partition_responses[0]
                .error_code,
            broker::kerr::kUnsupportedCompressionType);
  EXPECT_EQ(produce(7, "t", 0, batch(1, 1000, rec::Compression::kZstd))
                .responses[0]
                .partition_responses[0]
                .error_code,
            0);
  EXPECT_EQ(produce(7, "t", 0, batch(1), 5).responses[0].partition_responses[0].error_code,
            broker::kerr::kInvalidRequiredAcks);
  Buf truncated = batch(2).slice(0, 70);
  EXPECT_EQ(produce(7, "t", 0, truncated).responses[0].partition_responses[0].error_code,
            broker::kerr::kCorruptMessage);
}

TEST_F(HandlersTest, AcksZeroSendsNothingButAppends) {
  ProduceRequest req;
  req.acks = 0;
  auto& td = req.topic_data.emplace_back();
  td.name = "t";
  td.partition_data.push_back({0, batch(1), {}});
  auto body = call(0, 7, req);
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(body->no_response);
  // Nobody waits for an acks=0 append; it still completes.
  auto p = broker_->topics().partition("t", 0);
  for (int i = 0; i < 2000 && p->high_watermark() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(p->high_watermark(), 1);
}

TEST_F(HandlersTest, RealClientProduceFrames) {
  // Produce frames captured from kcat/librdkafka, confluent-kafka-python and kafka-python.
  auto ok = run(io_, broker_->topics().create_topic({.name = "shaletest"}, false));
  ASSERT_TRUE(ok.error.ok());
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(KAFKA_TESTDATA_DIR)) {
    std::string name = e.path().filename();
    if (name.find("_Produce_") == std::string::npos) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> frame((std::istreambuf_iterator<char>(in)), {});
    auto parsed = parse_request_header(Buf::take(std::move(frame)));
    ASSERT_TRUE(parsed.ok()) << name;
    ProduceRequest req;
    Reader rd(parsed->body);
    ASSERT_TRUE(req.decode(rd, parsed->header.request_api_version).ok()) << name;
    for (auto& td : req.topic_data) td.name = "shaletest";
    for (auto& td : req.topic_data) {
      for (auto& pd : td.partition_data) pd.index = 0;
    }
    auto resp = decode<ProduceResponse>(call(0, parsed->header.request_api_version, req),
                                        parsed->header.request_api_version);
    ASSERT_EQ(resp.responses.size(), 1u) << name;
    EXPECT_EQ(resp.responses[0].partition_responses[0].error_code, 0) << name;
    ++n;
  }
  EXPECT_GE(n, 3);
  auto f = fetch(12, [&] {
    auto r = fetch_req(0);
    r.topics[0].topic = "shaletest";
    return r;
  }());
  auto batches = rec::split_batches(*f.responses[0].partitions[0].records);
  ASSERT_EQ(static_cast<int>(batches.batches.size()), n);
  for (const auto& b : batches.batches) {
    auto it = rec::RecordIterator::create(b);
    ASSERT_TRUE(it.ok());
    while (auto r = it->next()) ASSERT_TRUE(r->ok());
  }
}

TEST_F(HandlersTest, FetchLongPollWakesOnProduce) {
  produce(7, "t", 0, batch(1));
  auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    asio::io_context io2;
    (void)run(io2, broker_->topics().partition("t", 0)->append({batch(2)}).wait());
  });
  auto f = fetch(11, fetch_req(1, /*max_wait=*/5000, /*min_bytes=*/1));
  producer.join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_GE(took, std::chrono::milliseconds(40));
  const auto& pd = f.responses[0].partitions[0];
  EXPECT_EQ(pd.high_watermark, 3);
  EXPECT_FALSE(rec::split_batches(*pd.records).batches.empty());
}

TEST_F(HandlersTest, FetchLongPollTimesOut) {
  auto start = std::chrono::steady_clock::now();
  auto f = fetch(11, fetch_req(0, /*max_wait=*/60, /*min_bytes=*/1));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(60));
  EXPECT_EQ(f.responses[0].partitions[0].error_code, 0);
  EXPECT_EQ(f.responses[0].partitions[0].records->size(), 0u);
}

TEST_F(HandlersTest, FetchOutOfRangeAndUnknown) {
  produce(7, "t", 0, batch(2));
  auto f = fetch(11, fetch_req(7));
  EXPECT_EQ(f.responses[0].partitions[0].error_code, broker::kerr::kOffsetOutOfRange);
  EXPECT_EQ(f.responses[0].partitions[0].high_watermark, 2);
  auto req = fetch_req(0);
  req.topics[0].topic_id.bytes[0] ^= 0xff;
  auto u = fetch(13, req);
  EXPECT_EQ(u.responses[0].partitions[0].error_code, broker::kerr::kUnknownTopicId);
  auto req2 = fetch_req(0);
  req2.topics[0].partitions[0].current_leader_epoch = 99;
  EXPECT_EQ(fetch(12, req2).responses[0].partitions[0].error_code,
            broker::kerr::kUnknownLeaderEpoch);
}

TEST_F(HandlersTest, IncrementalFetchSession) {
  produce(7, "t", 0, batch(2));
  auto req = fetch_req(0);
  auto& p1 = req.topics[0].partitions.emplace_back();
  p1.partition = 1;
  p1.partition_max_bytes = 1 << 20;
  req.session_id = 0;
  req.session_epoch = 0;
  auto full = fetch(12, req);
  ASSERT_NE(full.session_id, 0);
  ASSERT_EQ(full.responses[0].partitions.size(), 2u);

  // Epoch 1: the consumer moved to offset 2 on partition 0; nothing new anywhere.
  FetchRequest inc;
  inc.session_id = full.session_id;
  inc.session_epoch = 1;
  auto& t = inc.topics.emplace_back();
  t.topic = "t";
  auto& pp = t.partitions.emplace_back();
  pp.partition = 0;
  pp.fetch_offset = 2;
  pp.partition_max_bytes = 1 << 20;
  auto i1 = fetch(12, inc);
  EXPECT_EQ(i1.error_code, 0);
  EXPECT_EQ(i1.session_id, full.session_id);
  EXPECT_TRUE(i1.responses.empty());

  // New data on partition 1 only: epoch 2 (empty request) returns just that partition.
  produce(7, "t", 1, batch(1));
  FetchRequest inc2;
  inc2.session_id = full.session_id;
  inc2.session_epoch = 2;
  auto i2 = fetch(12, inc2);
  ASSERT_EQ(i2.responses.size(), 1u);
  ASSERT_EQ(i2.responses[0].partitions.size(), 1u);
  EXPECT_EQ(i2.responses[0].partitions[0].partition_index, 1);
  EXPECT_EQ(i2.responses[0].partitions[0].high_watermark, 1);

  inc2.session_epoch = 7;
  EXPECT_EQ(fetch(12, inc2).error_code, broker::kerr::kInvalidFetchSessionEpoch);
  inc2.session_id = full.session_id + 1;
  inc2.session_epoch = 3;
  auto nf = fetch(12, inc2);
  EXPECT_EQ(nf.error_code, broker::kerr::kFetchSessionIdNotFound);
  EXPECT_EQ(nf.session_id, 0);
}

TEST_F(HandlersTest, ListOffsetsDeleteRecordsAndEpochs) {
  produce(7, "t", 0, batch(3, 1000));
  produce(7, "t", 0, batch(3, 9000));
  ListOffsetsRequest lo;
  auto& t = lo.topics.emplace_back();
  t.name = "t";
  for (int64_t ts : {-2, -1, -3, 9001, 99999}) t.partitions.push_back({0, -1, ts, 1, {}});
  auto lr = decode<ListOffsetsResponse>(call(2, 7, lo), 7);
  const auto& ps = lr.topics[0].partitions;
  ASSERT_EQ(ps.size(), 5u);
  EXPECT_EQ(ps[0].offset, 0);
  EXPECT_EQ(ps[1].offset, 6);
  EXPECT_EQ(ps[2].offset, 5);
  EXPECT_EQ(ps[2].timestamp, 9002);
  EXPECT_EQ(ps[3].offset, 4);
  EXPECT_EQ(ps[4].offset, -1);

  DeleteRecordsRequest dr;
  auto& dt = dr.topics.emplace_back();
  dt.name = "t";
  dt.partitions.push_back({0, 3, {}});
  dt.partitions.push_back({1, 5, {}});
  auto drr = decode<DeleteRecordsResponse>(call(21, 2, dr), 2);
  EXPECT_EQ(drr.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(drr.topics[0].partitions[0].low_watermark, 3);
  EXPECT_EQ(drr.topics[0].partitions[1].error_code, broker::kerr::kOffsetOutOfRange);
  auto lr2 = decode<ListOffsetsResponse>(call(2, 7, lo), 7);
  EXPECT_EQ(lr2.topics[0].partitions[0].offset, 3);

  OffsetForLeaderEpochRequest oe;
  auto& ot = oe.topics.emplace_back();
  ot.topic = "t";
  ot.partitions.push_back({0, -1, 1, {}});
  ot.partitions.push_back({0, -1, 5, {}});
  ot.partitions.push_back({0, 3, 1, {}});
  auto oer = decode<OffsetForLeaderEpochResponse>(call(23, 3, oe), 3);
  const auto& eo = oer.topics[0].partitions;
  EXPECT_EQ(eo[0].leader_epoch, 1);
  EXPECT_EQ(eo[0].end_offset, 6);
  EXPECT_EQ(eo[1].leader_epoch, -1);
  EXPECT_EQ(eo[1].end_offset, -1);
  EXPECT_EQ(eo[2].error_code, broker::kerr::kUnknownLeaderEpoch);
}

// Produce timeout_ms: an append that is not durable in time answers REQUEST_TIMED_OUT with
// acks=all (without waiting for the store), the append itself still lands, and the broker keeps
// serving. acks=1 ignores timeout_ms, as in Kafka.
TEST_F(HandlersTest, ProduceTimeoutAnswersRequestTimedOut) {
  using Clock = std::chrono::steady_clock;
  auto produce_stalled = [&](int16_t acks, int32_t timeout_ms, Clock::duration* took) {
    ProduceRequest req;
    req.acks = acks;
    req.timeout_ms = timeout_ms;
    auto& td = req.topic_data.emplace_back();
    td.name = "t";
    td.partition_data.push_back({0, batch(2), {}});
    td.partition_data.push_back({1, batch(1), {}});
    Writer w;
    EXPECT_TRUE(req.encode(w, 9).ok());
    RequestHeader h;
    h.request_api_key = 0;
    h.request_api_version = 9;
    RequestContext ctx{h, concat(w.finish_parts()), conn_, *broker_, config_};
    store_.stall_appends = true;
    // The stalled callbacks are released well after the timeout; io_.run() returns only then
    // (the late completions are still delivered), so the handler's own finish time is recorded.
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      store_.stall_appends = false;
      store_.release_stalled();
    });
    std::optional<Result<ResponseBody>> out;
    const auto t0 = Clock::now();
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await HandlerRegistry::instance().find(0)->fn(ctx));
          *took = Clock::now() - t0;
        },
        asio::detached);
    io_.restart();
    io_.run();
    releaser.join();
    return decode<ProduceResponse>(*out, 9);
  };

  Clock::duration took{};
  auto r = produce_stalled(-1, 100, &took);
  EXPECT_GE(took, std::chrono::milliseconds(100));
  EXPECT_LT(took, std::chrono::milliseconds(550));  // answered before the store called back
  ASSERT_EQ(r.responses[0].partition_responses.size(), 2u);
  for (const auto& pr : r.responses[0].partition_responses) {
    EXPECT_EQ(pr.error_code, broker::kerr::kRequestTimedOut);
    EXPECT_EQ(pr.base_offset, -1);
    ASSERT_TRUE(pr.error_message.has_value());
  }
  // Not cancelled: the data landed.
  EXPECT_EQ(broker_->topics().partition("t", 0)->high_watermark(), 2);
  EXPECT_EQ(broker_->topics().partition("t", 1)->high_watermark(), 1);

  // acks=1: timeout_ms is not enforced; the answer waits for durability.
  auto r1 = produce_stalled(1, 100, &took);
  EXPECT_GE(took, std::chrono::milliseconds(550));
  EXPECT_EQ(r1.responses[0].partition_responses[0].error_code, 0);
  EXPECT_EQ(r1.responses[0].partition_responses[0].base_offset, 2);

  // The broker keeps serving: a normal produce and a fetch of everything.
  auto ok = produce(9, "t", 0, batch(1));
  EXPECT_EQ(ok.responses[0].partition_responses[0].error_code, 0);
  EXPECT_EQ(ok.responses[0].partition_responses[0].base_offset, 4);
  auto f = fetch(12, fetch_req(0));
  EXPECT_EQ(f.responses[0].partitions[0].high_watermark, 5);
}

// A topic deleted while a consumer holds a fetch session: the next fetch of the session answers
// UNKNOWN_TOPIC_ID (by-id versions, 13+) or UNKNOWN_TOPIC_OR_PARTITION (by name), as Kafka does;
// ListOffsets and Metadata-style lookups then answer UNKNOWN_TOPIC_OR_PARTITION. ListOffsets
// with read_committed answers the last stable offset (== high watermark: no transactions).
TEST_F(HandlersTest, DeletedTopicMidSessionAndReadCommittedListOffsets) {
  produce(9, "t", 0, batch(3));
  ListOffsetsRequest lo;
  lo.isolation_level = 1;
  auto& lt = lo.topics.emplace_back();
  lt.name = "t";
  lt.partitions.push_back({0, -1, -1, 1, {}});
  auto committed = decode<ListOffsetsResponse>(call(2, 9, lo), 9);
  EXPECT_EQ(committed.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(committed.topics[0].partitions[0].offset, 3);

  auto by_id = fetch_req(0);
  by_id.session_id = 0;
  by_id.session_epoch = 0;
  auto full13 = fetch(13, by_id);
  ASSERT_NE(full13.session_id, 0);
  auto by_name = fetch_req(0);
  by_name.session_id = 0;
  by_name.session_epoch = 0;
  auto full12 = fetch(12, by_name);
  ASSERT_NE(full12.session_id, 0);

  auto d = run(io_, broker_->topics().delete_topic("t"));
  ASSERT_TRUE(d.ok()) << d.message;

  FetchRequest inc;
  inc.session_id = full13.session_id;
  inc.session_epoch = 1;
  auto r13 = fetch(13, inc);
  EXPECT_EQ(r13.error_code, 0);
  ASSERT_EQ(r13.responses.size(), 1u);
  EXPECT_EQ(r13.responses[0].topic_id, Uuid{topic_id_.bytes});
  ASSERT_EQ(r13.responses[0].partitions.size(), 1u);
  EXPECT_EQ(r13.responses[0].partitions[0].error_code, broker::kerr::kUnknownTopicId);

  inc.session_id = full12.session_id;
  auto r12 = fetch(12, inc);
  ASSERT_EQ(r12.responses.size(), 1u);
  EXPECT_EQ(r12.responses[0].topic, "t");
  ASSERT_EQ(r12.responses[0].partitions.size(), 1u);
  EXPECT_EQ(r12.responses[0].partitions[0].error_code, broker::kerr::kUnknownTopicOrPartition);

  auto gone = decode<ListOffsetsResponse>(call(2, 9, lo), 9);
  EXPECT_EQ(gone.topics[0].partitions[0].error_code, broker::kerr::kUnknownTopicOrPartition);
  // The broker keeps serving: a new topic works.
  auto c = run(io_, broker_->topics().create_topic({.name = "t2", .num_partitions = 1}, false));
  ASSERT_TRUE(c.error.ok());
  EXPECT_EQ(produce(9, "t2", 0, batch(1)).responses[0].partition_responses[0].error_code, 0);
}

}  // namespace
}  // namespace shale::kafka
