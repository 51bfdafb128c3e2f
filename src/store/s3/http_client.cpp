#include "store/s3/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace pvesafe::store::s3 {

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

TransportError::TransportError(Kind kind, int curl_code, std::string host, const std::string& detail)
    : std::runtime_error(host + ": " + detail),
      kind_(kind),
      curl_code_(curl_code),
      host_(std::move(host)),
      detail_(detail) {}

std::string url_host(std::string_view url) {
  auto p = url.find("://");
  std::string_view rest = p == std::string_view::npos ? url : url.substr(p + 3);
  auto end = rest.find_first_of("/?#");
  return std::string(rest.substr(0, end));
}

namespace {

std::once_flag g_curl_init;

struct BodyReader {
  std::span<const uint8_t> data;
  size_t pos = 0;
};

size_t read_cb(char* buf, size_t size, size_t n, void* user) {
  auto* r = static_cast<BodyReader*>(user);
  size_t want = std::min(size * n, r->data.size() - r->pos);
  if (want) std::memcpy(buf, r->data.data() + r->pos, want);
  r->pos += want;
  return want;
}

int seek_cb(void* user, curl_off_t offset, int origin) {
  auto* r = static_cast<BodyReader*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > r->data.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  r->pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// The response being received and the bounds of its body.
struct Receiver {
  HttpResponse* resp;
  uint64_t max_body;  // successful answers
  bool truncate;      // keep the first max_body bytes instead of failing
  long status = 0;    // from the status line, as the headers arrive
  bool too_large = false;
  bool truncated = false;
  bool head = false;  // a HEAD answer: its Content-Length is the object's, with no body to read

  bool success() const { return status >= 200 && status < 300; }
  uint64_t limit() const { return success() ? max_body : kMaxErrorBodyBytes; }
};

size_t write_cb(char* ptr, size_t size, size_t n, void* user) {
  auto* r = static_cast<Receiver*>(user);
  auto& body = r->resp->body;
  size_t len = size * n;
  if (body.size() + len > r->limit()) {
    if (!r->success() || r->truncate) {
      body.insert(body.end(), reinterpret_cast<uint8_t*>(ptr),
                  reinterpret_cast<uint8_t*>(ptr) + (r->limit() - body.size()));
      r->truncated = true;
    } else {
      r->too_large = true;
    }
    return 0;  // ends the transfer (CURLE_WRITE_ERROR)
  }
  body.insert(body.end(), reinterpret_cast<uint8_t*>(ptr), reinterpret_cast<uint8_t*>(ptr) + len);
  return len;
}

size_t header_cb(char* ptr, size_t size, size_t n, void* user) {
  auto* r = static_cast<Receiver*>(user);
  auto* resp = r->resp;
  std::string_view line(ptr, size * n);
  if (line.starts_with("HTTP/")) {
    resp->headers.clear();  // a new response (after 100 Continue or a redirect)
    auto sp = line.find(' ');
    r->status =
        sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  if (name == "content-length" && !r->head) {
    try {
      uint64_t len = std::stoull(std::string(value));
      if (r->success() && len > r->max_body && !r->truncate) {
        r->too_large = true;  // refused before a byte of the body is read
        return 0;
      }
      resp->body.reserve(static_cast<size_t>(std::min(len, r->limit())));
    } catch (...) {
    }
  }
  resp->headers[name] = std::string(value);
  return size * n;
}

TransportError::Kind classify(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return TransportError::Kind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::Kind::kTimeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return TransportError::Kind::kTls;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return TransportError::Kind::kReset;
    default:
      return TransportError::Kind::kOther;
  }
}

}  // namespace

struct ShareLock {
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<HttpClient*>(user)->share_locks_[static_cast<int>(data) & 15].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<HttpClient*>(user)->share_locks_[static_cast<int>(data) & 15].unlock();
  }
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (options_.max_connections < 1) options_.max_connections = 1;
  CURLSH* sh = curl_share_init();
  curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, &ShareLock::lock);
  curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, &ShareLock::unlock);
  curl_share_setopt(sh, CURLSHOPT_USERDATA, this);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  share_ = sh;
}

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  curl_share_cleanup(static_cast<CURLSH*>(share_));
}

void* HttpClient::acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || created_ < options_.max_connections; });
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  ++created_;
  lock.unlock();
  CURL* h = curl_easy_init();
  if (!h) {
    std::lock_guard g(mu_);
    --created_;
    cv_.notify_one();
    throw TransportError(TransportError::Kind::kOther, 0, "", "cannot create an HTTP handle");
  }
  return h;
}

void HttpClient::release(void* handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
  cv_.notify_one();
}

HttpResponse HttpClient::perform(const HttpRequest& req) {
  CURL* h = static_cast<CURL*>(acquire());
  struct Releaser {
    HttpClient* c;
    CURL* h;
    ~Releaser() { c->release(h); }
  } releaser{this, h};
  curl_easy_reset(h);

  HttpResponse resp;
  Receiver receiver{&resp, req.max_body_bytes, req.truncate_body};
  receiver.head = req.method == "HEAD";
  BodyReader reader{req.body, 0};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) {
    headers = curl_slist_append(headers, (k + ": " + v).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  if (req.method != "PUT" && req.method != "POST") {
    headers = curl_slist_append(headers, "Transfer-Encoding:");
  }

  curl_easy_setopt(h, CURLOPT_SHARE, share_);
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_s);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &receiver);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &receiver);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &read_cb);
  curl_easy_setopt(h, CURLOPT_READDATA, &reader);
  curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &seek_cb);
  curl_easy_setopt(h, CURLOPT_SEEKDATA, &reader);

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (receiver.too_large) {
    throw TransportError(TransportError::Kind::kTooLarge, static_cast<int>(rc), url_host(req.url),
                         "the answer is larger than " + std::to_string(req.max_body_bytes) +
                             " bytes, the most this request expects");
  }
  if (rc == CURLE_WRITE_ERROR && receiver.truncated) {
    resp.status = receiver.status;  // the body was cut on purpose; the answer is complete enough
    return resp;
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    throw TransportError(classify(rc), static_cast<int>(rc), url_host(req.url), detail);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace pvesafe::store::s3
