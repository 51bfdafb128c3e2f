#include "store/s3/credentials.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_number.h"
#include "store/s3/http_client.h"
#include "store/s3/sigv4.h"
#include "store/s3/xml.h"

namespace pvesafe::store::s3 {

using Clock = std::chrono::system_clock;

std::optional<Clock::time_point> parse_iso8601(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi;
  double sec;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6) {
    return std::nullopt;
  }
  // Fields a server may send out of range: a time_point holds nanoseconds since 1970 (up to
  // the year 2262), and the seconds become an int.
  if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 24 || mi < 0 ||
      mi > 59 || !(sec >= 0 && sec < 62)) {
    return std::nullopt;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = static_cast<int>(sec);
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return Clock::from_time_t(t);
}

std::string format_iso8601(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

IniFile parse_aws_ini(const std::string& text, bool config_file) {
  IniFile out;
  std::string section;
  bool have_section = false;
  std::istringstream in(text);
  std::string line;
  auto trim = [](std::string s) {
    size_t a = s.find_first_not_of(" \t\r");
    size_t b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (config_file && section.starts_with("profile ")) section = trim(section.substr(8));
      have_section = true;
      out[section];
      continue;
    }
    auto eq = line.find('=');
    if (!have_section || eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out[section][key] = trim(line.substr(eq + 1));
  }
  return out;
}

namespace {

class StaticProvider : public CredentialProvider {
 public:
  explicit StaticProvider(Credentials c) : c_(std::move(c)) {}
  Credentials get() override { return c_; }

 private:
  Credentials c_;
};

// Caches temporary credentials and fetches new ones five minutes before expiry.
class RefreshingProvider : public CredentialProvider {
 public:
  RefreshingProvider(std::function<Credentials()> fetch, std::function<Clock::time_point()> now)
      : fetch_(std::move(fetch)), now_(std::move(now)) {}

  Credentials get() override {
    std::lock_guard lock(mu_);
    auto now = now_();
    if (cached_ && (!cached_->expiration || now + std::chrono::minutes(5) < *cached_->expiration)) {
      return *cached_;
    }
    try {
      Credentials fresh = fetch_();
      spdlog::debug("s3: obtained credentials from {}{}", fresh.source,
                    fresh.expiration ? " valid until " + format_iso8601(*fresh.expiration) : "");
      cached_ = std::move(fresh);
    } catch (const Error& e) {
      // Keep using credentials that have not expired yet; the next call tries again.
      if (cached_ && cached_->expiration && now < *cached_->expiration) {
        spdlog::warn("s3: refreshing credentials failed, using the current ones: {}", e.what());
        return *cached_;
      }
      throw;
    }
    return *cached_;
  }

  void invalidate() override {
    std::lock_guard lock(mu_);
    cached_.reset();
  }

 private:
  std::function<Credentials()> fetch_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string form_encode(const Pairs& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += uri_encode(k, false) + "=" + uri_encode(v, false);
  }
  return out;
}

// Strips the default port so the signed Host equals what the server sees.
std::string host_header(const std::string& url) {
  std::string host = url_host(url);
  if (url.starts_with("https://") && host.ends_with(":443")) host.resize(host.size() - 4);
  if (url.starts_with("http://") && host.ends_with(":80")) host.resize(host.size() - 3);
  return host;
}

Credentials credentials_from_sts(const HttpResponse& resp, const std::string& action,
                                 const std::string& role_arn) {
  std::string body = resp.body_text();
  if (resp.status != 200) {
    std::string code, message;
    try {
      auto doc = parse_xml(body, "STS " + action);
      if (const XmlNode* err = doc->find("Error")) {
        code = err->child_text("Code");
        message = err->child_text("Message");
      }
    } catch (const Error&) {
    }
    throw Error(Errc::kAuth,
                "STS " + action + " for role " + role_arn + " failed: HTTP " +
                    std::to_string(resp.status) + (code.empty() ? "" : " " + code) +
                    (message.empty() ? "" : " (" + message + ")"),
                "check role_arn, the trust policy of the role and the source credentials");
  }
  auto doc = parse_xml(body, "STS " + action);
  const XmlNode* c = doc->find("Credentials");
  if (!c || c->child_text("AccessKeyId").empty() || c->child_text("SecretAccessKey").empty()) {
    throw Error(Errc::kAuth, "STS " + action + " for role " + role_arn +
                                 " returned no credentials");
  }
  Credentials out;
  out.access_key_id = c->child_text("AccessKeyId");
  out.secret_access_key = c->child_text("SecretAccessKey");
  out.session_token = c->child_text("SessionToken");
  out.expiration = parse_iso8601(c->child_text("Expiration"));
  out.source = "STS " + action + " " + role_arn;
  return out;
}

struct Env {
  const CredentialContext& ctx;
  std::string get(const std::string& name) const {
    auto v = ctx.env(name);
    return v ? *v : std::string();
  }
};

class Chain : public CredentialProvider {
 public:
  explicit Chain(CredentialContext ctx) : ctx_(std::move(ctx)) {
    if (!ctx_.env) {
      ctx_.env = [](const std::string& n) -> std::optional<std::string> {
        const char* v = std::getenv(n.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      };
    }
    if (!ctx_.now) ctx_.now = [] { return Clock::now(); };
    if (ctx_.home.empty()) ctx_.home = Env{ctx_}.get("HOME");
    if (ctx_.region.empty()) ctx_.region = "us-east-1";
  }

  Credentials get() override {
    std::shared_ptr<CredentialProvider> p;
    {
      std::lock_guard lock(mu_);
      if (!resolved_) resolved_ = resolve();
      p = resolved_;
    }
    return p->get();
  }

  void invalidate() override {
    std::lock_guard lock(mu_);
    if (resolved_) resolved_->invalidate();
  }

 private:
  std::string sts_endpoint() const {
    Env env{ctx_};
    std::string ep = ctx_.sts_endpoint;
    if (ep.empty()) ep = env.get("AWS_ENDPOINT_URL_STS");
    if (ep.empty()) ep = env.get("AWS_ENDPOINT_URL");
    if (ep.empty()) ep = "https://sts." + ctx_.region + ".amazonaws.com";
    while (ep.ends_with("/")) ep.pop_back();
    return ep;
  }

  HttpClient& http() {
    std::lock_guard lock(http_mu_);
    if (!http_) {
      HttpOptions o;
      o.ca_bundle = ctx_.ca_bundle;
      o.max_connections = 2;
      o.connect_timeout_ms = 5000;
      o.stall_timeout_s = 30;
      http_ = std::make_unique<HttpClient>(o);
    }
    return *http_;
  }

  HttpResponse sts_post(const Pairs& params, const Credentials* signer) {
    std::string url = sts_endpoint() + "/";
    std::string body = form_encode(params);
    std::string host = host_header(url);
    std::string date = amz_datetime(ctx_.now());
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = {{"Host", host},
                   {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"X-Amz-Date", date}};
    if (signer) {
      if (!signer->session_token.empty()) {
        req.headers.emplace_back("X-Amz-Security-Token", signer->session_token);
      }
      SigningRequest sr{"POST", "/", {}, req.headers, sha256_hex(body)};
      SigningScope scope{signer->access_key_id, signer->secret_access_key, ctx_.region, "sts",
                         date};
      req.headers.emplace_back("Authorization", authorization(sr, scope));
    }
    req.body = std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size());
    try {
      return http().perform(req);
    } catch (const TransportError& e) {
      throw Error(e.kind() == TransportError::Kind::kTls ? Errc::kConfig : Errc::kTransient,
                  "cannot reach STS at " + e.host() + ": " + e.detail(),
                  e.kind() == TransportError::Kind::kTls
                      ? "give the CA certificate with -o s3.ca-bundle=FILE"
                      : "check the network and the STS endpoint (AWS_ENDPOINT_URL_STS)");
    }
  }

  std::string session_name() const {
    std::string n = Env{ctx_}.get("AWS_ROLE_SESSION_NAME");
    if (n.empty()) n = "pvesafe-" + std::to_string(Clock::to_time_t(ctx_.now()));
    return n;
  }

  std::shared_ptr<CredentialProvider> assume_role(std::shared_ptr<CredentialProvider> source,
                                                  std::string role_arn, std::string session,
                                                  std::string external_id, std::string duration) {
    return std::make_shared<RefreshingProvider>(
        [this, source, role_arn, session, external_id, duration] {
          Credentials src = source->get();
          Pairs params{{"Action", "AssumeRole"},
                       {"Version", "2011-06-15"},
                       {"RoleArn", role_arn},
                       {"RoleSessionName", session}};
          if (!external_id.empty()) params.emplace_back("ExternalId", external_id);
          if (!duration.empty()) params.emplace_back("DurationSeconds", duration);
          return credentials_from_sts(sts_post(params, &src), "AssumeRole", role_arn);
        },
        ctx_.now);
  }

  std::shared_ptr<CredentialProvider> web_identity(std::string token_file, std::string role_arn,
                                                   std::string session) {
    return std::make_shared<RefreshingProvider>(
        [this, token_file, role_arn, session] {
          std::string token = read_file(token_file);
          while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
          if (token.empty()) {
            throw Error(Errc::kAuth, "web identity token file " + token_file +
                                         " is missing or empty",
                        "check AWS_WEB_IDENTITY_TOKEN_FILE");
          }
          Pairs params{{"Action", "AssumeRoleWithWebIdentity"},
                       {"Version", "2011-06-15"},
                       {"RoleArn", role_arn},
                       {"RoleSessionName", session},
                       {"WebIdentityToken", token}};
          std::fill(token.begin(), token.end(), '\0');
          return credentials_from_sts(sts_post(params, nullptr), "AssumeRoleWithWebIdentity",
                                      role_arn);
        },
        ctx_.now);
  }

  std::shared_ptr<CredentialProvider> process(std::string command, std::string profile) {
    return std::make_shared<RefreshingProvider>(
        [command, profile] {
          FILE* p = popen(command.c_str(), "r");
          if (!p) {
            throw Error(Errc::kAuth, "cannot run credential_process of profile " + profile);
          }
          std::string out;
          char buf[4096];
          size_t n;
          while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
          int status = pclose(p);
          if (status != 0) {
            throw Error(Errc::kAuth,
                        "credential_process of profile " + profile + " failed (exit status " +
                            std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status) + ")",
                        "run the command by hand to see why");
          }
          nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
          if (j.is_discarded() || !j.is_object() || !j.contains("AccessKeyId") ||
              !j.contains("SecretAccessKey") ||
              json_integer<int>(j.value("Version", nlohmann::json())) != 1) {
            throw Error(Errc::kAuth, "credential_process of profile " + profile +
                                         " printed no valid credentials (expected JSON with "
                                         "Version 1, AccessKeyId, SecretAccessKey)");
          }
          Credentials c;
          c.access_key_id = j["AccessKeyId"].get<std::string>();
          c.secret_access_key = j["SecretAccessKey"].get<std::string>();
          c.session_token = j.value("SessionToken", "");
          if (j.contains("Expiration")) c.expiration = parse_iso8601(j.value("Expiration", ""));
          c.source = "credential_process of profile " + profile;
          return c;
        },
        ctx_.now);
  }

  std::shared_ptr<CredentialProvider> imds() {
    Env env{ctx_};
    std::string ep = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (ep.empty()) ep = "http://169.254.169.254";
    while (ep.ends_with("/")) ep.pop_back();
    auto client = std::make_shared<HttpClient>(HttpOptions{"", 1, 1000, 3});
    return std::make_shared<RefreshingProvider>(
        [ep, client] {
          auto fail = [&](const std::string& why) {
            return Error(Errc::kConfig, "no AWS credentials found (environment, profile, "
                                        "instance metadata at " + url_host(ep) + ": " + why + ")",
                         "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in "
                         "~/.aws/credentials (-o s3.profile=NAME)");
          };
          try {
            HttpRequest treq{"PUT", ep + "/latest/api/token",
                             {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, {}};
            HttpResponse t = client->perform(treq);
            if (t.status != 200) throw fail("token request answered HTTP " + std::to_string(t.status));
            std::string token = t.body_text();
            Pairs h{{"X-aws-ec2-metadata-token", token}};
            HttpResponse roles = client->perform(
                {"GET", ep + "/latest/meta-data/iam/security-credentials/", h, {}});
            if (roles.status != 200) {
              throw fail("no instance role (HTTP " + std::to_string(roles.status) + ")");
            }
            std::string role = roles.body_text();
            role = role.substr(0, role.find('\n'));
            while (!role.empty() && (role.back() == '\r' || role.back() == ' ')) role.pop_back();
            if (role.empty()) throw fail("no instance role");
            HttpResponse cr = client->perform(
                {"GET", ep + "/latest/meta-data/iam/security-credentials/" + role, h, {}});
            if (cr.status != 200) {
              throw fail("credentials of role " + role + " answered HTTP " +
                         std::to_string(cr.status));
            }
            nlohmann::json j = nlohmann::json::parse(cr.body_text(), nullptr, false);
            if (j.is_discarded() || j.value("Code", "") != "Success" ||
                !j.contains("AccessKeyId")) {
              throw fail("credentials of role " + role + " are not usable");
            }
            Credentials c;
            c.access_key_id = j.value("AccessKeyId", "");
            c.secret_access_key = j.value("SecretAccessKey", "");
            c.session_token = j.value("Token", "");
            c.expiration = parse_iso8601(j.value("Expiration", ""));
            c.source = "instance metadata role " + role;
            return c;
          } catch (const TransportError& e) {
            throw fail("unreachable, " + e.detail());
          }
        },
        ctx_.now);
  }

  std::shared_ptr<CredentialProvider> from_profile(const std::string& name, const IniFile& creds,
                                                   const IniFile& config, int depth) {
    if (depth > 5) {
      throw Error(Errc::kConfig, "profile " + name + ": source_profile chain is too long or loops");
    }
    std::map<std::string, std::string> p;
    if (auto it = config.find(name); it != config.end()) p = it->second;
    if (auto it = creds.find(name); it != creds.end()) {
      for (const auto& [k, v] : it->second) p[k] = v;
    }
    auto val = [&](const char* k) {
      auto it = p.find(k);
      return it == p.end() ? std::string() : it->second;
    };
    if (!val("role_arn").empty()) {
      std::string session = val("role_session_name");
      if (session.empty()) session = session_name();
      if (!val("source_profile").empty()) {
        std::string src = val("source_profile");
        std::shared_ptr<CredentialProvider> source;
        if (src == name) {
          // A profile that is its own source uses its static keys.
          if (val("aws_access_key_id").empty()) {
            throw Error(Errc::kConfig, "profile " + name + " names itself as source_profile "
                                       "but has no aws_access_key_id");
          }
          source = static_keys(p, name);
        } else {
          if (!creds.count(src) && !config.count(src)) {
            throw Error(Errc::kConfig, "profile " + name + ": source_profile " + src +
                                           " does not exist");
          }
          source = from_profile(src, creds, config, depth + 1);
        }
        if (!source) {
          throw Error(Errc::kConfig, "profile " + name + ": source_profile " + src +
                                         " has no credentials");
        }
        return assume_role(source, val("role_arn"), session, val("external_id"),
                           val("duration_seconds"));
      }
      if (!val("web_identity_token_file").empty()) {
        return web_identity(val("web_identity_token_file"), val("role_arn"), session);
      }
      throw Error(Errc::kUnsupported, "profile " + name + ": role_arn needs source_profile or "
                                      "web_identity_token_file (credential_source is not supported)");
    }
    if (!val("aws_access_key_id").empty()) return static_keys(p, name);
    if (!val("credential_process").empty()) return process(val("credential_process"), name);
    return nullptr;
  }

  static std::shared_ptr<CredentialProvider> static_keys(
      const std::map<std::string, std::string>& p, const std::string& name) {
    Credentials c;
    auto at = [&](const char* k) {
      auto it = p.find(k);
      return it == p.end() ? std::string() : it->second;
    };
    c.access_key_id = at("aws_access_key_id");
    c.secret_access_key = at("aws_secret_access_key");
    c.session_token = at("aws_session_token");
    c.source = "profile " + name;
    if (c.secret_access_key.empty()) {
      throw Error(Errc::kConfig, "profile " + name + " has aws_access_key_id but no "
                                 "aws_secret_access_key");
    }
    return std::make_shared<StaticProvider>(std::move(c));
  }

  std::shared_ptr<CredentialProvider> resolve() {
    Env env{ctx_};
    // 1. Environment.
    std::string akid = env.get("AWS_ACCESS_KEY_ID");
    std::string secret = env.get("AWS_SECRET_ACCESS_KEY");
    if (!akid.empty() && !secret.empty()) {
      Credentials c{akid, secret, env.get("AWS_SESSION_TOKEN"), std::nullopt, "environment"};
      return std::make_shared<StaticProvider>(std::move(c));
    }
    // 2. Web identity from the environment.
    std::string token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE");
    std::string role = env.get("AWS_ROLE_ARN");
    if (!token_file.empty() && !role.empty()) return web_identity(token_file, role, session_name());
    // 3. Profiles.
    std::string name = ctx_.profile;
    bool explicit_profile = !name.empty();
    if (name.empty()) name = env.get("AWS_PROFILE");
    if (!name.empty()) explicit_profile = true;
    if (name.empty()) name = "default";
    std::string creds_path = env.get("AWS_SHARED_CREDENTIALS_FILE");
    if (creds_path.empty()) creds_path = ctx_.home + "/.aws/credentials";
    std::string config_path = env.get("AWS_CONFIG_FILE");
    if (config_path.empty()) config_path = ctx_.home + "/.aws/config";
    IniFile creds = parse_aws_ini(read_file(creds_path), false);
    IniFile config = parse_aws_ini(read_file(config_path), true);
    if (explicit_profile && !creds.count(name) && !config.count(name)) {
      throw Error(Errc::kConfig,
                  "AWS profile " + name + " is not in " + creds_path + " or " + config_path,
                  "check s3.profile / AWS_PROFILE");
    }
    if (auto p = from_profile(name, creds, config, 0)) return p;
    if (explicit_profile) {
      throw Error(Errc::kConfig, "AWS profile " + name + " has no credentials",
                  "add aws_access_key_id/aws_secret_access_key, role_arn or credential_process");
    }
    // 4. Instance metadata.
    std::string disabled = env.get("AWS_EC2_METADATA_DISABLED");
    std::transform(disabled.begin(), disabled.end(), disabled.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (disabled == "true") {
      throw Error(Errc::kConfig,
                  "no AWS credentials found (environment, profile " + name + " in " + creds_path +
                      " or " + config_path + "; instance metadata is disabled)",
                  "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in "
                  "~/.aws/credentials (-o s3.profile=NAME)");
    }
    return imds();
  }

  CredentialContext ctx_;
  std::mutex mu_;
  std::shared_ptr<CredentialProvider> resolved_;
  std::mutex http_mu_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

std::shared_ptr<CredentialProvider> static_credentials(Credentials c) {
  return std::make_shared<StaticProvider>(std::move(c));
}

std::shared_ptr<CredentialProvider> default_credential_chain(CredentialContext ctx) {
  return std::make_shared<Chain>(std::move(ctx));
}

}  // namespace pvesafe::store::s3
