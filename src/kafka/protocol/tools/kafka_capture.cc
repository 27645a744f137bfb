// kafka_capture: a minimal fake broker for capturing real clients' request frames as golden test
// fixtures. It answers ApiVersions (from the generated API table), Metadata (this one broker,
// leader of partition 0 of every topic asked for), InitProducerId and Produce (success), using
// the codec under test, and saves the first frame of each (api, version) to
// OUT_DIR/PREFIX_<api>_v<version>.bin (without the 4-byte size).
//
//   kafka_capture PORT OUT_DIR PREFIX SECONDS
//
// Test tool only: single-threaded, poll()-driven, loopback only, exits after SECONDS.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "kafka/protocol/errors.h"
#include "kafka/protocol/gen/messages.h"
#include "kafka/protocol/request_header.h"

namespace shale::kafka {
namespace {

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_all(int fd, const std::vector<uint8_t>& v) {
  size_t off = 0;
  while (off < v.size()) {
    ssize_t r = ::write(fd, v.data() + off, v.size() - off);
    if (r <= 0) return false;
    off += static_cast<size_t>(r);
  }
  return true;
}

class CaptureBroker {
 public:
  CaptureBroker(int port, std::string dir, std::string prefix)
      : port_(port), dir_(std::move(dir)), prefix_(std::move(prefix)) {}

  // Handles one frame; returns the response frame (with size prefix) or empty to close.
  std::vector<uint8_t> handle(const std::vector<uint8_t>& frame) {
    auto parsed = parse_request_header(Buf::copy(frame.data(), frame.size()));
    if (!parsed.ok() || !parsed->api) return {};
    const RequestHeader& h = parsed->header;
    save(*parsed->api, h.request_api_version, frame);
    Writer w;
    w.write_int32(0);  // size, patched below
    encode_response_header(w, h.request_api_key, h.request_api_version, h.correlation_id);
    Status st = respond(*parsed, w);
    if (!st.ok()) {
      std::fprintf(stderr, "%s v%d: %s\n", parsed->api->name, h.request_api_version,
                   st.to_string().c_str());
      return {};
    }
    std::vector<uint8_t> out = w.finish();
    uint32_t n = htonl(static_cast<uint32_t>(out.size() - 4));
    std::memcpy(out.data(), &n, 4);
    return out;
  }

 private:
  void save(const ApiInfo& api, int16_t version, const std::vector<uint8_t>& frame) {
    std::string name =
        dir_ + "/" + prefix_ + "_" + api.name + "_v" + std::to_string(version) + ".bin";
    if (!saved_.insert(name).second) return;
    std::ofstream(name, std::ios::binary)
        .write(reinterpret_cast<const char*>(frame.data()),
               static_cast<std::streamsize>(frame.size()));
    std::printf("saved %s (%zu bytes)\n", name.c_str(), frame.size());
  }

  Status respond(const ParsedRequest& req, Writer& w) {
    const int16_t v = req.header.request_api_version;
    Reader r(req.body);
    switch (req.header.request_api_key) {
      case ApiVersionsRequest::kApiKey: {
        ApiVersionsResponse resp;
        for (const ApiInfo& a : all_apis())
          resp.api_keys.push_back({a.api_key, a.min_version, a.max_version, {}});
        if (!req.api->supports(v)) {  // down-negotiate: v0 body with our ranges
          resp.error_code = to_wire(ErrorCode::kUnsupportedVersion);
          return resp.encode(w, 0);
        }
        return resp.encode(w, v);
      }
      case MetadataRequest::kApiKey: {
        MetadataRequest m;
        SHALE_RETURN_IF_ERROR(m.decode(r, v));
        MetadataResponse resp;
        resp.brokers.push_back({0, "127.0.0.1", port_, std::nullopt, {}});
        resp.cluster_id = "shale-capture";
        resp.controller_id = 0;
        if (m.topics) {
          for (const auto& t : *m.topics) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            rt.topic_id.bytes[15] = 1;
            auto& p = rt.partitions.emplace_back();
            p.leader_id = 0;
            p.leader_epoch = 0;
            p.replica_nodes = {0};
            p.isr_nodes = {0};
          }
        }
        return resp.encode(w, v);
      }
      case InitProducerIdRequest::kApiKey: {
        InitProducerIdRequest m;
        SHALE_RETURN_IF_ERROR(m.decode(r, v));
        InitProducerIdResponse resp;
        resp.producer_id = 1000;
        resp.producer_epoch = 0;
        return resp.encode(w, v);
      }
      case ProduceRequest::kApiKey: {
        ProduceRequest m;
        SHALE_RETURN_IF_ERROR(m.decode(r, v));
        ProduceResponse resp;
        for (const auto& t : m.topic_data) {
          auto& rt = resp.responses.emplace_back();
          rt.name = t.name;
          for (const auto& p : t.partition_data)
            rt.partition_responses.emplace_back().index = p.index;
        }
        return resp.encode(w, v);
      }
      default:
        return Status(Errc::kInvalidArgument, "not answered by the capture tool");
    }
  }

  int32_t port_;
  std::string dir_, prefix_;
  std::set<std::string> saved_;
};

int run(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: kafka_capture PORT OUT_DIR PREFIX SECONDS\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  CaptureBroker broker(port, argv[2], argv[3]);
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(lfd, 8) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[4]));
  std::vector<pollfd> fds{{lfd, POLLIN, 0}};
  while (std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents & POLLIN) fds.push_back({::accept(lfd, nullptr, nullptr), POLLIN, 0});
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      uint32_t size_be;
      std::vector<uint8_t> frame;
      bool ok = read_exact(fds[i].fd, reinterpret_cast<uint8_t*>(&size_be), 4);
      if (ok) {
        frame.resize(ntohl(size_be));
        ok = frame.size() < (64u << 20) && read_exact(fds[i].fd, frame.data(), frame.size());
      }
      std::vector<uint8_t> resp = ok ? broker.handle(frame) : std::vector<uint8_t>{};
      if (resp.empty() || !write_all(fds[i].fd, resp)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    std::erase_if(fds, [](const pollfd& p) { return p.fd < 0; });
    for (auto& p : fds) p.revents = 0;
  }
  ::close(lfd);
  return 0;
}

}  // namespace
}  // namespace shale::kafka

int main(int argc, char** argv) {
  return shale::kafka::run(argc, argv);
}
