// Rough codec throughput: decode a Produce request and encode a Fetch response of 100 partitions
// x 16 KiB record batches, and decode a 1000-partition Metadata response. Prints ns per message.
//   kafka_codec_bench [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "kafka/protocol/gen/messages.h"

namespace shale::kafka {
namespace {

template <typename F>
double ns_per_op(int iters, F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / iters;
}

int run(int iters) {
  Buf batch = Buf::zeros(16 * 1024);
  ProduceRequest produce;
  produce.acks = -1;
  auto& topic = produce.topic_data.emplace_back();
  topic.name = "events";
  for (int p = 0; p < 100; ++p) topic.partition_data.push_back({p, batch, {}});
  Writer pw;
  if (!produce.encode(pw, 9).ok()) return 1;
  auto pbytes = pw.finish();
  Buf pframe = Buf::copy(pbytes.data(), pbytes.size());
  double produce_ns = ns_per_op(iters, [&] {
    ProduceRequest d;
    Reader r(pframe);
    if (!d.decode(r, 9).ok()) std::abort();
  });

  FetchResponse fetch;
  auto& ft = fetch.responses.emplace_back();
  ft.topic_id.bytes[0] = 1;
  for (int p = 0; p < 100; ++p) {
    auto& fp = ft.partitions.emplace_back();
    fp.partition_index = p;
    fp.records = batch;
  }
  size_t parts = 0;
  double fetch_ns = ns_per_op(iters, [&] {
    Writer w;
    if (!fetch.encode(w, 16).ok()) std::abort();
    parts = w.finish_parts().size();
  });

  MetadataResponse md;
  md.brokers.push_back({0, "127.0.0.1", 9092, std::nullopt, {}});
  auto& mt = md.topics.emplace_back();
  mt.name = "events";
  for (int p = 0; p < 1000; ++p) mt.partitions.push_back({0, p, 0, 0, {0}, {0}, {}, {}});
  Writer mw;
  if (!md.encode(mw, 12).ok()) return 1;
  auto mbytes = mw.finish();
  Buf mframe = Buf::copy(mbytes.data(), mbytes.size());
  double md_ns = ns_per_op(iters, [&] {
    MetadataResponse d;
    Reader r(mframe);
    if (!d.decode(r, 12).ok()) std::abort();
  });

  std::printf("ProduceRequest v9 decode, 100 x 16 KiB (%zu B):  %9.0f ns  (%.1f GB/s, no copy)\n",
              pbytes.size(), produce_ns, pbytes.size() / produce_ns);
  std::printf("FetchResponse v16 encode, 100 x 16 KiB:         %9.0f ns  (%zu slices)\n", fetch_ns,
              parts);
  std::printf("MetadataResponse v12 decode, 1000 partitions:   %9.0f ns  (%zu B)\n", md_ns,
              mbytes.size());
  return 0;
}

}  // namespace
}  // namespace shale::kafka

int main(int argc, char** argv) {
  return shale::kafka::run(argc > 1 ? std::atoi(argv[1]) : 2000);
}
