// s3_raw: raw S3 baselines with the same client Shale uses (s3::S3ObjectStore on libcurl), so
// that bench/s3_bench.py compares Shale against the store itself and not against another HTTP
// client. Prints one JSON object per run on stdout. Not a test.
//
//   s3_raw URI put     --size BYTES --count N [--if-none-match 1] [--warmup 20]
//                                                         PUT latency, p50/p99/max ms
//                                                         (conditional, as the object WAL)
//   s3_raw URI upload  --mib M --part-mib P --parallel N  one multipart PUT, MiB/s
//   s3_raw URI get     --prefix KEYPREFIX --range-mib R --readers N [--min-bytes B]
//                      [--skew-kib K]                     ranged GETs of every object, MiB/s
//                                                         (K: the first range of each object
//                                                         is K KiB, so the rest start off R)
//                                                         (--readers 0: only list and sum)
//   s3_raw URI rm      [--prefix KEYPREFIX]               deletes every object under it (the
//                                                         URI's or this prefix must be set)
//
// URI is an s3:// URI as `shale serve --object-store` takes it (see s3/s3_config.h); keys are
// relative to its prefix. `put` and `upload` write under "raw/<random>/" and delete what they
// wrote; `get` only reads. Every request is a real request to the server (no cache).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/buf.h"
#include "s3/s3_store.h"

namespace {

using namespace shale;  // NOLINT(google-build-using-namespace): a small tool
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double pct(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(xs.size())))];
}

Buf random_buf(size_t n) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(n);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(&v[i], &x, 8);
  }
  return Buf::take(std::move(v));
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 3; i + 1 < argc; i++)
    if (argv[i] == name) return argv[i + 1];
  return def;
}

uint64_t num(int argc, char** argv, const std::string& name, uint64_t def) {
  return std::stoull(arg(argc, argv, name, std::to_string(def)));
}

int fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "s3_raw: %s: %s\n", what.c_str(), st.to_string().c_str());
  return 1;
}

// PUT latency of objects of one size, one at a time (like the object WAL's commits). Prints
// every timed sample too ("lat_ms"), so a caller that alternates short rounds with the broker's
// can pool them.
int run_put(objstore::ObjectStore& store, const std::string& dir, int argc, char** argv) {
  const size_t size = num(argc, argv, "--size", 1024);
  const size_t count = num(argc, argv, "--count", 300);
  const size_t warmup = num(argc, argv, "--warmup", 20);
  const objstore::PutOptions opts{.if_none_match = num(argc, argv, "--if-none-match", 0) != 0};
  Buf body = random_buf(size);
  std::vector<double> lat;
  std::vector<std::string> keys;
  for (size_t i = 0; i < count + warmup; i++) {
    keys.push_back(dir + "put/" + std::to_string(i));
    auto t0 = Clock::now();
    Status st = store.put(keys.back(), {body}, opts);
    if (!st.ok()) return fail("put", st);
    if (i >= warmup) lat.push_back(ms_since(t0));
  }
  for (size_t i = 0; i < keys.size(); i += 1000) {
    std::vector<std::string> batch(keys.begin() + i,
                                   keys.begin() + std::min(keys.size(), i + 1000));
    (void)store.remove(batch);
  }
  std::string samples;
  for (double ms : lat) {
    if (!samples.empty()) samples.push_back(',');
    samples.append(std::to_string(ms));
  }
  std::printf(
      "{\"op\":\"put\",\"size\":%zu,\"count\":%zu,\"if_none_match\":%d,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"lat_ms\":[%s]}\n",
      size, count, opts.if_none_match ? 1 : 0, pct(lat, 50), pct(lat, 99), pct(lat, 100),
      samples.c_str());
  return 0;
}

// One multipart upload of M MiB in P MiB parts, N parts in flight.
int run_upload(objstore::ObjectStore& store, const std::string& dir, int argc, char** argv) {
  const uint64_t mib = num(argc, argv, "--mib", 128);
  const uint64_t part = num(argc, argv, "--part-mib", 8) << 20;
  const size_t parallel = num(argc, argv, "--parallel", 4);
  Buf data = random_buf(mib << 20);
  const int parts = static_cast<int>((data.size() + part - 1) / part);
  const std::string key = dir + "upload";
  auto t0 = Clock::now();
  auto id = store.begin_multipart(key);
  if (!id.ok()) return fail("begin_multipart", Status(id.error()));
  std::atomic<int> next{1};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  for (size_t t = 0; t < parallel; t++) {
    ts.emplace_back([&] {
      for (int n; (n = next.fetch_add(1)) <= parts && !failed;) {
        uint64_t off = static_cast<uint64_t>(n - 1) * part;
        Status st =
            store.upload_part(key, *id, n, data.slice(off, std::min(part, data.size() - off)));
        if (!st.ok()) {
          fail("upload_part", st);
          failed = true;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) return 1;
  Status st = store.complete_multipart(key, *id, parts);
  if (!st.ok()) return fail("complete_multipart", st);
  const double secs = ms_since(t0) / 1000;
  (void)store.remove({key});
  std::printf(
      "{\"op\":\"upload\",\"mib\":%llu,\"part_mib\":%llu,\"parallel\":%zu,"
      "\"mib_s\":%.1f}\n",
      static_cast<unsigned long long>(mib), static_cast<unsigned long long>(part >> 20), parallel,
      static_cast<double>(mib) / secs);
  return 0;
}

// Ranged GETs of R MiB over every object under a prefix (objects >= --min-bytes), N readers
// taking ranges in key order (a sequential reader with N requests in flight).
int run_get(objstore::ObjectStore& store, int argc, char** argv) {
  const std::string prefix = arg(argc, argv, "--prefix", "");
  const uint64_t range = num(argc, argv, "--range-mib", 1) << 20;
  const size_t readers = num(argc, argv, "--readers", 4);
  const uint64_t min_bytes = num(argc, argv, "--min-bytes", 1 << 20);
  const uint64_t skew = num(argc, argv, "--skew-kib", 0) << 10;
  struct Range {
    std::string key;
    uint64_t off, len;
  };
  std::vector<Range> ranges;
  std::string token;
  size_t objects = 0;
  uint64_t listed = 0;
  do {
    auto page = store.list(prefix, token);
    if (!page.ok()) return fail("list", Status(page.error()));
    for (const auto& o : page->objects) {
      if (o.size < min_bytes) continue;
      objects++;
      listed += o.size;
      for (uint64_t off = 0, len = skew > 0 ? skew : range; off < o.size; off += len, len = range)
        ranges.push_back({o.key, off, std::min(len, o.size - off)});
    }
    token = page->next_token;
  } while (!token.empty());
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (size_t t = 0; t < readers; t++) {
    ts.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < ranges.size() && !failed;) {
        auto got = store.get(ranges[i].key, objstore::ByteRange::at(ranges[i].off, ranges[i].len));
        if (!got.ok()) {
          fail("get " + ranges[i].key, Status(got.error()));
          failed = true;
        } else {
          bytes += got->data.size();
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) return 1;
  const double secs = ms_since(t0) / 1000;
  std::printf(
      "{\"op\":\"get\",\"objects\":%zu,\"listed\":%llu,\"bytes\":%llu,\"range_mib\":%llu,"
      "\"readers\":%zu,\"mib_s\":%.1f}\n",
      objects, static_cast<unsigned long long>(listed),
      static_cast<unsigned long long>(bytes.load()), static_cast<unsigned long long>(range >> 20),
      readers, static_cast<double>(bytes.load()) / (1 << 20) / secs);
  return 0;
}

// Deletes every object under a prefix (the benchmark's own prefix, after a run).
int run_rm(objstore::ObjectStore& store, int argc, char** argv) {
  const std::string prefix = arg(argc, argv, "--prefix", "");
  size_t removed = 0;
  while (true) {
    auto page = store.list(prefix);
    if (!page.ok()) return fail("list", Status(page.error()));
    if (page->objects.empty()) break;
    std::vector<std::string> keys;
    for (const auto& o : page->objects) keys.push_back(o.key);
    Status st = store.remove(keys);
    if (!st.ok()) return fail("remove", st);
    removed += keys.size();
  }
  std::printf("{\"op\":\"rm\",\"objects\":%zu}\n", removed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: s3_raw URI put|upload|get [options] (see bench/s3_raw.cc)\n");
    return 2;
  }
  auto cfg = s3::parse_s3_uri(argv[1]);
  if (!cfg.ok()) return fail("parse " + std::string(argv[1]), Status(cfg.error()));
  if (std::string(argv[2]) == "rm" && cfg->prefix.empty() &&
      arg(argc, argv, "--prefix", "").empty()) {
    std::fprintf(stderr, "s3_raw: rm of a whole bucket refused (give a prefix)\n");
    return 2;
  }
  auto store = s3::open_s3_store(argv[1]);
  if (!store.ok()) return fail("open " + std::string(argv[1]), Status(store.error()));
  const std::string op = argv[2];
  const std::string dir = "raw/" + std::to_string(std::random_device()()) + "/";
  if (op == "put") return run_put(**store, dir, argc, argv);
  if (op == "upload") return run_upload(**store, dir, argc, argv);
  if (op == "get") return run_get(**store, argc, argv);
  if (op == "rm") return run_rm(**store, argc, argv);
  std::fprintf(stderr, "s3_raw: unknown operation %s\n", op.c_str());
  return 2;
}
