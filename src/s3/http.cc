#include "s3/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

namespace shale::s3 {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread; curl_easy_reset keeps its connection cache.
struct ThreadHandle {
  CURL* h = nullptr;
  ThreadHandle() {
    global_init();
    h = curl_easy_init();
  }
  ~ThreadHandle() {
    if (h) curl_easy_cleanup(h);
  }
};

struct ReadState {
  const std::vector<Buf>* parts;
  size_t part = 0;
  size_t off = 0;
};

size_t read_cb(char* dst, size_t size, size_t n, void* user) {
  auto* st = static_cast<ReadState*>(user);
  size_t cap = size * n, done = 0;
  while (done < cap && st->part < st->parts->size()) {
    const Buf& b = (*st->parts)[st->part];
    size_t take = std::min(cap - done, b.size() - st->off);
    if (take) std::memcpy(dst + done, b.data() + st->off, take);
    done += take;
    st->off += take;
    if (st->off == b.size()) {
      ++st->part;
      st->off = 0;
    }
  }
  return done;
}

int seek_cb(void* user, curl_off_t offset, int origin) {
  auto* st = static_cast<ReadState*>(user);
  if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  st->part = 0;
  st->off = 0;
  auto left = static_cast<uint64_t>(offset);
  while (st->part < st->parts->size() && left >= (*st->parts)[st->part].size()) {
    left -= (*st->parts)[st->part].size();
    ++st->part;
  }
  st->off = static_cast<size_t>(left);
  return CURL_SEEKFUNC_OK;
}

// libcurl's receive and send buffers (defaults 16 KiB and 64 KiB). Larger ones move a GET's or a
// PUT's body in fewer system calls; on loopback each receive call also sends the window update
// that makes the kernel push the sender's next segments inline, so fewer calls cost less CPU.
constexpr long kRecvBufferBytes = 512L << 10;
constexpr long kSendBufferBytes = 1L << 20;

size_t write_cb(char* src, size_t size, size_t n, void* user) {
  static_cast<RecvBuffer*>(user)->append(src, size * n);
  return size * n;
}

struct HeaderState {
  HttpResponse* resp;
  RecvBufferPool* pool;
};

size_t header_cb(char* src, size_t size, size_t n, void* user) {
  auto* hs = static_cast<HeaderState*>(user);
  HttpResponse* resp = hs->resp;
  std::string_view line(src, size * n);
  if (line.starts_with("HTTP/")) {
    resp->headers.clear();  // a new response (e.g. after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
    v.remove_suffix(1);
  if (name == "content-length" && resp->body.capacity() == 0) {
    size_t len = std::strtoull(std::string(v).c_str(), nullptr, 10);
    if (hs->pool && len >= (size_t{64} << 10) && len <= (size_t{1} << 30)) {
      resp->body = hs->pool->take(len);
    } else if (len <= (size_t{1} << 30)) {
      resp->body.reserve(len);
    }
  }
  resp->headers.emplace_back(std::move(name), std::string(v));
  return size * n;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

HttpResponse http_perform(const HttpRequest& req) {
  thread_local ThreadHandle th;
  HttpResponse resp;
  CURL* h = th.h;
  if (!h) {
    resp.curl_error = "curl_easy_init failed";
    return resp;
  }
  curl_easy_reset(h);
  uint64_t body_size = 0;
  for (const auto& b : req.body) body_size += b.size();
  ReadState rs{&req.body};

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, req.low_speed_bytes);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req.low_speed_secs);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
  HeaderState hs{&resp, req.body_pool};
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs);

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kRecvBufferBytes);
  } else if (req.method == "PUT" || req.method == "POST") {
    // Upload from the parts; POST via a custom verb so the same reader is used.
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, kSendBufferBytes);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &rs);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &rs);
    if (req.method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  curl_slist* hl = nullptr;
  for (const auto& [k, v] : req.headers) hl = curl_slist_append(hl, (k + ": " + v).c_str());
  hl = curl_slist_append(hl, "Expect:");  // no 100-continue round trip
  hl = curl_slist_append(hl, "Accept:");
  if (req.method == "PUT" || req.method == "POST") hl = curl_slist_append(hl, "Transfer-Encoding:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(hl);
  if (rc != CURLE_OK) {
    resp.status = 0;
    resp.curl_error = curl_easy_strerror(rc);
    resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    resp.body.clear();
    return resp;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace shale::s3
