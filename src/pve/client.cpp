#include "pve/client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace pvesafe::pve {

namespace {

// PVE tickets are valid for 2 h; renew after one hour like the official clients.
constexpr auto kTicketRenewAfter = std::chrono::seconds(3600);

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string encode_params(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += url_encode(k);
    out.push_back('=');
    out += url_encode(v);
  }
  return out;
}

// Path characters PVE ids use (node names, UPIDs with ':' '@' '!') pass; anything else is encoded.
std::string encode_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::string_view("/-_.~:@!=+,").find(static_cast<char>(c)) !=
                               std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string hex_colon(const unsigned char* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back(':');
    out += fmt::format("{:02X}", p[i]);
  }
  return out;
}

// First `bytes` bytes of a colon fingerprint, for messages: "3F:A2:19:4B:...".
std::string fp_prefix(const std::string& fp, size_t bytes = 6) {
  size_t len = bytes * 3 - 1;
  if (fp.size() <= len) return fp;
  return fp.substr(0, len) + ":...";
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// ---- TLS certificate pinning --------------------------------------------------------------

struct PinState {
  std::array<unsigned char, 32> expected{};
  std::string seen;  // colon hex of the leaf certificate that was presented
  bool mismatch = false;
};

int pin_ex_index() {
  static int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int pin_verify_callback(int /*preverify_ok*/, X509_STORE_CTX* store) {
  // Only the leaf is pinned; intermediate and root certificates of the chain do not matter.
  if (X509_STORE_CTX_get_error_depth(store) > 0) return 1;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (cert == nullptr || ssl == nullptr) return 0;
  auto* state = static_cast<PinState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_ex_index()));
  if (state == nullptr) return 0;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32) return 0;
  state->seen = hex_colon(md, len);
  bool match = CRYPTO_memcmp(md, state->expected.data(), 32) == 0;
  state->mismatch = !match;
  if (!match) return 0;
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

CURLcode ssl_ctx_callback(CURL* /*curl*/, void* ssl_ctx, void* userptr) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_ex_data(ctx, pin_ex_index(), userptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, pin_verify_callback);
  return CURLE_OK;
}

struct Response {
  long status = 0;
  std::string reason;
  std::string body;
  size_t max_body = 0;
  bool too_large = false;  // the body (or its Content-Length) passed max_body
};

size_t write_callback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* r = static_cast<Response*>(userdata);
  size_t n = size * nmemb;
  if (r->body.size() + n > r->max_body) {
    r->too_large = true;
    return 0;  // ends the transfer
  }
  r->body.append(ptr, n);
  return n;
}

size_t header_callback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* r = static_cast<Response*>(userdata);
  size_t n = size * nmemb;
  std::string_view line(ptr, n);
  if (line.rfind("HTTP/", 0) == 0) {
    // "HTTP/1.1 403 Permission check failed (/vms/100, VM.Backup)"
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    r->reason =
        sp2 == std::string_view::npos ? std::string() : trim(std::string(line.substr(sp2 + 1)));
  } else if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
    // Refuse an announced oversize body before reading it.
    unsigned long long len = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
    if (len > r->max_body) {
      r->too_large = true;
      return 0;
    }
  }
  return n;
}

}  // namespace

std::string normalize_fingerprint(const std::string& fingerprint) {
  std::string s = fingerprint;
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower.rfind("sha256:", 0) == 0) s = s.substr(7);
  std::string hex;
  for (char c : s) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      throw Error(Errc::kUsage, "TLS fingerprint is not hexadecimal",
                  "give the SHA-256 fingerprint as shown by `pvenode cert info` (AB:CD:...)");
    }
    hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 64) {
    throw Error(Errc::kUsage,
                fmt::format("TLS fingerprint has {} hex digits, a SHA-256 fingerprint has 64",
                            hex.size()),
                "give the SHA-256 fingerprint as shown by `pvenode cert info` (AB:CD:...)");
  }
  std::string out;
  for (size_t i = 0; i < 64; i += 2) {
    if (i) out.push_back(':');
    out += hex.substr(i, 2);
  }
  return out;
}

Upid Upid::parse(const std::string& upid) {
  // UPID:node:pid:pstart:starttime:type:id:user:
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t c = upid.find(':', pos);
    if (c == std::string::npos) {
      parts.push_back(upid.substr(pos));
      break;
    }
    parts.push_back(upid.substr(pos, c - pos));
    pos = c + 1;
  }
  auto bad = [&] {
    return Error(Errc::kRemote, fmt::format("not a PVE task id (UPID): '{}'", upid.substr(0, 120)));
  };
  // The user may be an API token "root@pam!pvesafe", which has no ':'; a trailing ':' gives an
  // empty last element.
  if (parts.size() < 8 || parts[0] != "UPID" || parts[1].empty()) throw bad();
  Upid u;
  try {
    size_t used = 0;
    u.node = parts[1];
    u.pid = static_cast<uint32_t>(std::stoul(parts[2], &used, 16));
    if (used != parts[2].size()) throw bad();
    u.pstart = std::stoull(parts[3], &used, 16);
    if (used != parts[3].size()) throw bad();
    u.starttime = static_cast<int64_t>(std::stoll(parts[4], &used, 16));
    if (used != parts[4].size()) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  u.type = parts[5];
  u.id = parts[6];
  u.user = parts[7];
  if (u.type.empty() || u.user.empty()) throw bad();
  return u;
}

struct Client::Impl {
  ClientOptions opt;
  CURL* curl = nullptr;
  PinState pin;
  bool pinned = false;
  std::string ticket;  // PVEAuthCookie value
  std::string csrf;
  std::chrono::steady_clock::time_point ticket_time{};

  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
    wipe(ticket);
  }

  std::string base() const {
    std::string h = opt.host;
    if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
    return fmt::format("https://{}:{}", h, opt.port);
  }

  bool token_auth() const { return !opt.token_id.empty(); }

  [[noreturn]] void throw_curl(CURLcode rc, const std::string& what, const char* errbuf) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    detail = trim(detail);
    if (pinned && pin.mismatch) {
      throw Error(Errc::kAuth,
                  fmt::format("TLS certificate of {} has SHA-256 fingerprint {} but "
                              "--pve-fingerprint pins {}",
                              base(), fp_prefix(pin.seen),
                              fp_prefix(hex_colon(pin.expected.data(), 32))),
                  "if the node's certificate was renewed on purpose, compare with `pvenode cert "
                  "info` on the node and update --pve-fingerprint; otherwise someone may be "
                  "intercepting the connection");
    }
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        throw Error(Errc::kTransient,
                    fmt::format("{} at {} timed out after {} ms", what, base(), opt.timeout.count()),
                    "check that the node is up, or raise --pve-timeout");
      case CURLE_COULDNT_RESOLVE_HOST:
        throw Error(Errc::kTransient, fmt::format("cannot resolve PVE host '{}'", opt.host),
                    "check --pve-host");
      case CURLE_COULDNT_CONNECT:
        throw Error(Errc::kTransient, fmt::format("cannot connect to PVE API at {}: {}", base(), detail),
                    "check --pve-host/--pve-port and that pveproxy runs on the node");
      case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x075100
      case CURLE_SSL_CACERT:
#endif
        throw Error(Errc::kConfig,
                    fmt::format("TLS certificate of {} is not trusted: {}", base(), detail),
                    "pass the cluster CA with --pve-ca (/etc/pve/pve-root-ca.pem) or pin the "
                    "certificate with --pve-fingerprint");
      case CURLE_SSL_CACERT_BADFILE:
        throw Error(Errc::kConfig, fmt::format("cannot read CA file '{}': {}", opt.ca_file, detail),
                    "check --pve-ca");
      default:
        throw Error(Errc::kTransient, fmt::format("{} at {} failed: {}", what, base(), detail));
    }
  }

  Response perform(const std::string& method, const std::string& path,
                   const std::map<std::string, std::string>& params) {
    global_init();
    if (!curl) {
      curl = curl_easy_init();
      if (!curl) throw Error(Errc::kInternal, "curl_easy_init failed");
    } else {
      curl_easy_reset(curl);
    }
    std::string url = base() + "/api2/json" + encode_path(path);
    std::string body = (method == "POST" || method == "PUT") ? encode_params(params) : "";
    if (method == "GET" || method == "DELETE") {
      std::string q = encode_params(params);
      if (!q.empty()) url += "?" + q;
    }
    Response r;
    r.max_body = opt.max_response_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(opt.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_callback);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_callback);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "pvesafe");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    if (method == "POST" || method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body.c_str());
      if (method == "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (method == "DELETE") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    // TLS
    if (!opt.fingerprint.empty()) {
      pinned = true;
      pin.mismatch = false;
      pin.seen.clear();
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);  // the pin callback decides
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_callback);
      curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &pin);
      // A cached TLS session would skip the certificate check on reconnects.
      curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    } else if (!opt.verify_tls) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
      if (!opt.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, opt.ca_file.c_str());
    }
    // Auth
    struct curl_slist* headers = nullptr;
    std::string auth;
    std::string csrf_header;
    std::string cookie;
    if (token_auth()) {
      auth = "Authorization: PVEAPIToken=" + opt.token_id + "=" + std::string(opt.token_secret.view());
      headers = curl_slist_append(headers, auth.c_str());
    } else if (!ticket.empty()) {
      cookie = "PVEAuthCookie=" + ticket;
      curl_easy_setopt(curl, CURLOPT_COOKIE, cookie.c_str());
      if (method != "GET") {
        csrf_header = "CSRFPreventionToken: " + csrf;
        headers = curl_slist_append(headers, csrf_header.c_str());
      }
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    wipe(auth);
    wipe(cookie);
    curl_easy_setopt(curl, CURLOPT_COOKIE, nullptr);
    if (r.too_large) {
      throw Error(Errc::kRemote,
                  fmt::format("PVE API {} {} at {}: reply larger than {} bytes, the most pvesafe "
                              "accepts",
                              method, path, base(), opt.max_response_bytes),
                  "check that --pve-host points at a Proxmox VE node (port 8006)");
    }
    if (rc != CURLE_OK) throw_curl(rc, method + " " + path, errbuf);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

  std::string status_text(const Response& r) {
    // PVE puts the message into the status line ("403 Permission check failed (/vms/100,
    // VM.Backup)"); some proxies and servers put it into the body's "message" instead.
    std::string reason = r.reason;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string()) {
      std::string m = trim(j["message"].get<std::string>());
      if (!m.empty() && m.find(reason) == std::string::npos) {
        static const char* generic[] = {"Unauthorized", "Forbidden", "Not Found",
                                        "Internal Server Error", "Bad Request", ""};
        bool is_generic = std::find(std::begin(generic), std::end(generic), reason) != std::end(generic);
        reason = is_generic ? m : reason + ": " + m;
      }
    }
    return reason.empty() ? fmt::format("HTTP {}", r.status) : reason;
  }

  [[noreturn]] void throw_status(const std::string& method, const std::string& path,
                                 const Response& r) {
    std::string what = method + " " + path;
    std::string reason = status_text(r);
    switch (r.status) {
      case 401:
        if (token_auth()) {
          throw Error(Errc::kAuth,
                      fmt::format("PVE API at {} rejected the token {} ({} {})", base(),
                                  opt.token_id, r.status, reason),
                      "check --pve-token-id and the token secret; the token may have expired or "
                      "been removed (pveum user token list)");
        }
        throw Error(Errc::kAuth,
                    fmt::format("PVE API at {} rejected the login of {} ({} {})", base(), opt.user,
                                r.status, reason),
                    "check the user name (USER@REALM) and password");
      case 403:
        throw Error(Errc::kAuth,
                    fmt::format("PVE API denied {} for {}: {}", what,
                                token_auth() ? opt.token_id : opt.user, reason),
                    "grant the privilege on that path (pveum acl modify PATH --roles ROLE "
                    "--tokens ID); a privilege-separated token needs its own ACL entries");
      case 404:
        throw Error(Errc::kNotFound, fmt::format("PVE API {}: not found ({})", what, reason));
      case 400: {
        std::string detail;
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.contains("errors") && j["errors"].is_object()) {
          for (const auto& [k, v] : j["errors"].items()) {
            detail += fmt::format("; {}: {}", k, v.is_string() ? trim(v.get<std::string>()) : v.dump());
          }
        }
        throw Error(Errc::kUsage, fmt::format("PVE API {} refused the parameters: {}{}", what,
                                              reason, detail));
      }
      case 595:
      case 596:
        throw Error(Errc::kTransient,
                    fmt::format("PVE API {}: node unreachable from {} ({} {})", what, base(),
                                r.status, reason),
                    "the node is down or its pveproxy is not reachable inside the cluster; check "
                    "`pvecm status`");
      case 502:
      case 503:
      case 504:
        throw Error(Errc::kTransient,
                    fmt::format("PVE API {} at {}: server unavailable ({} {})", what, base(),
                                r.status, reason),
                    "retry later; check pveproxy and pvedaemon on the node");
      default:
        if (r.status >= 500) {
          throw Error(Errc::kRemote,
                      fmt::format("PVE API {} failed: {} ({})", what, reason, r.status));
        }
        throw Error(Errc::kRemote,
                    fmt::format("PVE API {} answered {} {}", what, r.status, reason));
    }
  }

  nlohmann::json parse_envelope(const std::string& method, const std::string& path,
                                const Response& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("data")) {
      std::string head = r.body.substr(0, 60);
      for (char& c : head) {
        if (!std::isprint(static_cast<unsigned char>(c))) c = '.';
      }
      throw Error(Errc::kRemote,
                  fmt::format("PVE API {} returned a malformed reply ({} bytes, starts '{}'), "
                              "expected a JSON {{\"data\": ...}} envelope",
                              method + " " + path, r.body.size(), head),
                  "check that --pve-host points at a Proxmox VE node (port 8006)");
    }
    return std::move(j["data"]);
  }

  void login() {
    if (opt.user.empty()) {
      throw Error(Errc::kConfig, "no PVE credentials",
                  "give --pve-token-id with the token secret (recommended) or --pve-user with a "
                  "password file");
    }
    std::map<std::string, std::string> form{{"username", opt.user},
                                            {"password", std::string(opt.password.view())}};
    Response r;
    try {
      ticket.clear();
      r = perform("POST", "/access/ticket", form);
    } catch (...) {
      wipe(form["password"]);
      throw;
    }
    wipe(form["password"]);
    if (r.status != 200) throw_status("POST", "/access/ticket", r);
    auto data = parse_envelope("POST", "/access/ticket", r);
    if (!data.is_object() || !data.contains("ticket") || !data["ticket"].is_string() ||
        !data.contains("CSRFPreventionToken")) {
      throw Error(Errc::kRemote, "PVE API POST /access/ticket returned no ticket");
    }
    ticket = data["ticket"].get<std::string>();
    csrf = data["CSRFPreventionToken"].get<std::string>();
    ticket_time = std::chrono::steady_clock::now();
  }

  void ensure_auth() {
    if (token_auth()) return;
    if (ticket.empty() || std::chrono::steady_clock::now() - ticket_time > kTicketRenewAfter) {
      login();
    }
  }

  nlohmann::json call(const std::string& method, const std::string& path,
                      const std::map<std::string, std::string>& params) {
    int attempts = method == "GET" ? 1 + std::max(0, opt.get_retries) : 1;
    bool relogged = false;
    for (int attempt = 1;; ++attempt) {
      try {
        ensure_auth();
        Response r = perform(method, path, params);
        if (r.status == 401 && !token_auth() && !relogged) {
          relogged = true;  // the ticket expired or the server restarted: log in once more
          ticket.clear();
          --attempt;
          continue;
        }
        if (r.status < 200 || r.status >= 300) throw_status(method, path, r);
        return parse_envelope(method, path, r);
      } catch (const Error& e) {
        if (e.code() != Errc::kTransient || attempt >= attempts) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt * attempt));
      }
    }
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  if (impl_->opt.host.empty()) {
    throw Error(Errc::kConfig, "no PVE host given", "pass --pve-host NODE (env PVESAFE_PVE_HOST)");
  }
  if (!impl_->opt.fingerprint.empty()) {
    impl_->opt.fingerprint = normalize_fingerprint(impl_->opt.fingerprint);
    std::string hex;
    for (char c : impl_->opt.fingerprint) {
      if (c != ':') hex.push_back(c);
    }
    for (size_t i = 0; i < 32; ++i) {
      impl_->pin.expected[i] = static_cast<unsigned char>(std::stoul(hex.substr(i * 2, 2), nullptr, 16));
    }
  }
  if (!impl_->opt.token_id.empty()) {
    if (impl_->opt.token_id.find('!') == std::string::npos ||
        impl_->opt.token_id.find('@') == std::string::npos) {
      throw Error(Errc::kUsage,
                  fmt::format("PVE token id '{}' is not of the form USER@REALM!TOKENID",
                              impl_->opt.token_id));
    }
    if (impl_->opt.token_secret.empty()) {
      throw Error(Errc::kConfig, fmt::format("no secret for PVE token {}", impl_->opt.token_id),
                  "give it with --pve-token-file, env PVESAFE_PVE_TOKEN_SECRET or the systemd "
                  "credential pve-token");
    }
  }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

nlohmann::json Client::get(const std::string& path, const std::map<std::string, std::string>& query) {
  return impl_->call("GET", path, query);
}
nlohmann::json Client::post(const std::string& path, const std::map<std::string, std::string>& form) {
  return impl_->call("POST", path, form);
}
nlohmann::json Client::put(const std::string& path, const std::map<std::string, std::string>& form) {
  return impl_->call("PUT", path, form);
}
nlohmann::json Client::del(const std::string& path, const std::map<std::string, std::string>& query) {
  return impl_->call("DELETE", path, query);
}

std::string Client::endpoint() const { return impl_->base(); }
const ClientOptions& Client::options() const { return impl_->opt; }

std::vector<std::string> Client::task_log(const std::string& upid, int start, int limit) {
  Upid u = Upid::parse(upid);
  auto data = get(fmt::format("/nodes/{}/tasks/{}/log", u.node, upid),
                  {{"start", std::to_string(start)}, {"limit", std::to_string(limit)}});
  std::vector<std::string> lines;
  if (data.is_array()) {
    for (const auto& l : data) {
      if (l.is_object() && l.contains("t") && l["t"].is_string()) lines.push_back(l["t"]);
    }
  }
  return lines;
}

TaskStatus Client::wait_task(const std::string& upid, std::chrono::seconds timeout,
                             const WaitOptions& options) {
  Upid u = Upid::parse(upid);
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout;
  auto interval = options.poll_interval;
  TaskStatus st;
  st.upid = upid;
  st.node = u.node;
  st.type = u.type;
  while (true) {
    auto data = get(fmt::format("/nodes/{}/tasks/{}/status", u.node, upid));
    if (!data.is_object() || !data.contains("status") || !data["status"].is_string()) {
      throw Error(Errc::kRemote, fmt::format("PVE task status of {} has no 'status' field", upid));
    }
    st.status = data["status"].get<std::string>();
    st.exitstatus = data.value("exitstatus", std::string());
    st.duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (st.status != "running") break;
    if (options.on_poll) options.on_poll(st);
    if (std::chrono::steady_clock::now() + interval > deadline) {
      throw Error(Errc::kTransient,
                  fmt::format("PVE task {} ({} {}) on {} still running after {} s", upid, u.type,
                              u.id, u.node, timeout.count()),
                  "it keeps running on the node; watch it in the task log, or raise the timeout");
    }
    std::this_thread::sleep_for(interval);
    interval = std::min<std::chrono::milliseconds>(interval * 3 / 2, std::chrono::seconds(2));
  }
  bool success = st.ok() || (options.accept_warnings && st.warnings());
  if (!success || st.warnings()) {
    try {
      auto lines = task_log(upid);
      size_t n = std::min(lines.size(), options.log_lines);
      st.log_tail.assign(lines.end() - static_cast<long>(n), lines.end());
    } catch (const Error&) {
      // the log is a courtesy for the message; the status is what counts
    }
  }
  if (!success) {
    std::string tail;
    for (const auto& l : st.log_tail) {
      if (l.rfind("TASK ", 0) == 0) continue;
      tail += (tail.empty() ? "" : " | ") + trim(l);
    }
    throw Error(Errc::kRemote,
                fmt::format("PVE task {} {} on {} failed: {}{}", u.type, u.id, u.node,
                            st.exitstatus.empty() ? "(no exit status)" : st.exitstatus,
                            tail.empty() ? "" : " -- log: " + tail),
                fmt::format("see the full log with `pvenode task log {}` on {}", upid, u.node));
  }
  return st;
}

}  // namespace pvesafe::pve
