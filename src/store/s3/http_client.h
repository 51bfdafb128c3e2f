// HttpClient: blocking HTTP(S) requests on libcurl, safe to call from many threads at once.
// It keeps a pool of easy handles (each keeps its keep-alive connection) bounded by
// max_connections; a caller waits when all are busy. DNS answers and TLS sessions are shared
// between the handles through a share handle. TLS peer and host verification are always on.
//
// Response bodies are bounded, so a broken or hostile endpoint cannot make pvesafe buffer an
// unbounded answer: a successful (2xx) answer may carry at most HttpRequest::max_body_bytes (the
// size the caller asked for, or a cap for XML documents); a Content-Length above it fails the
// request before the body is read (TransportError kTooLarge). Error answers (3xx-5xx) keep their
// first kMaxErrorBodyBytes, enough for any S3 or STS error document.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/s3/sigv4.h"

namespace pvesafe::store::s3 {

struct HttpOptions {
  std::string ca_bundle;            // PEM file of trusted CAs; empty: the system store
  int max_connections = 8;          // handles (and connections) in use at once
  long connect_timeout_ms = 10000;
  long stall_timeout_s = 60;        // abort when no byte moved for this long
};

// Cap of a successful answer's body unless a request says otherwise: XML documents (a
// ListObjectsV2 page of 1000 keys is about 300 KiB), STS and instance-metadata answers.
inline constexpr uint64_t kMaxDocumentBodyBytes = uint64_t{16} << 20;
// What is kept of an error answer's body.
inline constexpr uint64_t kMaxErrorBodyBytes = uint64_t{64} << 10;

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // fully encoded
  Pairs headers;
  std::span<const uint8_t> body;
  // Most bytes a successful answer's body may have. More is TransportError kTooLarge, unless
  // truncate_body: then the first max_body_bytes are kept and the rest is not read (a ranged GET
  // whose server answers with the whole object).
  uint64_t max_body_bytes = kMaxDocumentBodyBytes;
  bool truncate_body = false;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased; last value wins
  std::vector<uint8_t> body;
  std::string header(const std::string& lower_name) const;
  std::string body_text() const { return {body.begin(), body.end()}; }
};

// A request that got no complete HTTP response.
class TransportError : public std::runtime_error {
 public:
  enum class Kind { kConnect, kTimeout, kTls, kReset, kTooLarge, kOther };
  TransportError(Kind kind, int curl_code, std::string host, const std::string& detail);
  Kind kind() const { return kind_; }
  int curl_code() const { return curl_code_; }
  const std::string& host() const { return host_; }
  const std::string& detail() const { return detail_; }

 private:
  Kind kind_;
  int curl_code_;
  std::string host_;
  std::string detail_;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Throws TransportError when no complete response arrived (including a body shorter than
  // its Content-Length). Any HTTP status is returned, not thrown.
  HttpResponse perform(const HttpRequest& request);

  const HttpOptions& options() const { return options_; }

 private:
  void* acquire();
  void release(void* handle);

  HttpOptions options_;
  void* share_ = nullptr;
  std::mutex share_locks_[16];
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<void*> idle_;
  int created_ = 0;

  friend struct ShareLock;
};

// "host:port" of a URL, for messages.
std::string url_host(std::string_view url);

}  // namespace pvesafe::store::s3
