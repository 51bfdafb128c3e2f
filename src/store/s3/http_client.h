// HttpClient: blocking HTTP(S) requests on libcurl, safe to call from many threads at once.
// It keeps a pool of easy handles (each keeps its keep-alive connection) bounded by
// max_connections; a caller waits when all are busy. DNS answers and TLS sessions are shared
// between the handles through a share handle. TLS peer and host verification are always on.
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

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // fully encoded
  Pairs headers;
  std::span<const uint8_t> body;
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
  enum class Kind { kConnect, kTimeout, kTls, kReset, kOther };
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
