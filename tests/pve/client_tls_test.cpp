// pve::Client against a real HTTPS server on 127.0.0.1 (cpp-httplib with a certificate made
// here): token and ticket auth headers, CSRF on writes, certificate pinning and CA checks, and the
// error mapping of 401/403/404/500/595, malformed replies, timeouts and failed tasks.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "pve/client.h"

namespace pvesafe::pve {
namespace {

const char* kSecret = "5f0c9a8e-1111-2222-3333-444455556666";

std::string read_sample(const std::string& name) {
  std::ifstream in(std::string(PVESAFE_SHARED_DIR) + "/pve-api-samples/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Cert {
  EVP_PKEY* key = nullptr;
  X509* x509 = nullptr;
  std::string fingerprint;  // colon hex
  std::string pem_path;
  ~Cert() {
    X509_free(x509);
    EVP_PKEY_free(key);
    if (!pem_path.empty()) std::remove(pem_path.c_str());
  }
};

void make_cert(Cert& c) {
  c.key = EVP_EC_gen("P-256");
  ASSERT_NE(c.key, nullptr);
  c.x509 = X509_new();
  X509_set_version(c.x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.x509), 42);
  X509_gmtime_adj(X509_getm_notBefore(c.x509), -60);
  X509_gmtime_adj(X509_getm_notAfter(c.x509), 3600);
  X509_set_pubkey(c.x509, c.key);
  X509_NAME* name = X509_get_subject_name(c.x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(c.x509, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c.x509, c.x509, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(c.x509, ext, -1);
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(c.x509, ext, -1);
  X509_EXTENSION_free(ext);
  ASSERT_GT(X509_sign(c.x509, c.key, EVP_sha256()), 0);
  unsigned char md[32];
  unsigned len = 0;
  X509_digest(c.x509, EVP_sha256(), md, &len);
  char buf[4];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", md[i]);
    if (i) c.fingerprint += ":";
    c.fingerprint += buf;
  }
  char tmpl[] = "/tmp/pvesafe-pve-ca-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  FILE* f = fdopen(fd, "w");
  PEM_write_X509(f, c.x509);
  fclose(f);
  c.pem_path = tmpl;
}

class FakePve : public ::testing::Test {
 protected:
  void SetUp() override {
    make_cert(cert_);
    server_ = std::make_unique<httplib::SSLServer>(cert_.x509, cert_.key);
    auto json = [](httplib::Response& res, int status, const std::string& body) {
      res.status = status;
      res.set_content(body, "application/json");
    };
    auto token_ok = [](const httplib::Request& req) {
      return req.get_header_value("Authorization") ==
             std::string("PVEAPIToken=root@pam!pvesafe=") + kSecret;
    };
    const std::string ticket_body = read_sample("access_ticket_post.json");
    const auto ticket_json = nlohmann::json::parse(ticket_body)["data"];
    const std::string ticket = ticket_json["ticket"];
    const std::string csrf = ticket_json["CSRFPreventionToken"];
    auto ticket_ok = [ticket](const httplib::Request& req) {
      return req.get_header_value("Cookie") == "PVEAuthCookie=" + ticket;
    };
    server_->Post("/api2/json/access/ticket", [=, this](const httplib::Request& req, httplib::Response& res) {
      ++logins_;
      if (req.get_param_value("username") == "root@pam" && req.get_param_value("password") == "pw") {
        json(res, 200, ticket_body);
      } else {
        json(res, 401, R"j({"data":null,"message":"authentication failure"})j");
      }
    });
    server_->Get("/api2/json/cluster/resources", [=](const httplib::Request& req, httplib::Response& res) {
      if (!token_ok(req) && !ticket_ok(req)) return json(res, 401, R"j({"data":null,"message":"invalid token value!"})j");
      json(res, 200, read_sample("cluster_resources.json"));
    });
    server_->Post("/api2/json/nodes/pve-01/qemu/100/status/start",
                  [=](const httplib::Request& req, httplib::Response& res) {
                    if (!ticket_ok(req)) return json(res, 401, R"j({"data":null})j");
                    if (req.get_header_value("CSRFPreventionToken") != csrf)
                      return json(res, 401, R"j({"data":null,"message":"Permission denied - invalid csrf token"})j");
                    json(res, 200, R"j({"data":"UPID:pve-01:00001234:00ABCDEF:6745F0A1:qmstart:100:root@pam:"})j");
                  });
    server_->Get("/api2/json/nodes/pve-01/status", [=](const httplib::Request&, httplib::Response& res) {
      json(res, 403, R"j({"data":null,"message":"Permission check failed (/nodes/pve-01, Sys.Audit)"})j");
    });
    server_->Get("/api2/json/nodes/pve-03/status", [=](const httplib::Request&, httplib::Response& res) {
      json(res, 595, R"j({"data":null,"message":"Connection refused"})j");
    });
    server_->Post("/api2/json/nodes/pve-01/qemu", [=](const httplib::Request&, httplib::Response& res) {
      json(res, 500, R"j({"data":null,"message":"unable to create VM 100 - VM 100 already exists on node 'pve-01'\n"})j");
    });
    server_->Post("/api2/json/nodes/pve-01/lxc", [=](const httplib::Request&, httplib::Response& res) {
      json(res, 400, R"j({"data":null,"message":"Parameter verification failed.","errors":{"vmid":"invalid format - value does not look like a valid VM ID\n"}})j");
    });
    server_->Get("/api2/json/version", [=](const httplib::Request&, httplib::Response& res) {
      json(res, 200, "<html>this is not json</html>");
    });
    server_->Get("/api2/json/slow", [=](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      json(res, 200, R"j({"data":1})j");
    });
    // 3 MiB answers, with a Content-Length and streamed (chunked, no length known up front).
    const std::string big = R"j({"data":")j" + std::string(3 << 20, 'x') + R"j("})j";
    server_->Get("/api2/json/big",
                 [=](const httplib::Request&, httplib::Response& res) { json(res, 200, big); });
    server_->Get("/api2/json/big-streamed", [=](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/json", [big](size_t off, httplib::DataSink& sink) {
            if (off >= big.size()) {
              sink.done();
              return true;
            }
            return sink.write(big.data() + off, std::min<size_t>(64 << 10, big.size() - off));
          });
    });
    server_->Get("/api2/json/flaky", [=, this](const httplib::Request&, httplib::Response& res) {
      if (++flaky_ < 3) return json(res, 503, R"j({"data":null})j");
      json(res, 200, R"j({"data":"third time"})j");
    });
    const std::string upid = "UPID:pve-01:00001234:00ABCDEF:6745F0A1:vzdump:100:root@pam!pvesafe:";
    server_->Get("/api2/json/nodes/pve-01/tasks/" + upid + "/status",
                 [=, this](const httplib::Request&, httplib::Response& res) {
                   if (++polls_ < 3) return json(res, 200, R"j({"data":{"status":"running"}})j");
                   json(res, 200, R"j({"data":{"status":"stopped","exitstatus":"job errors"}})j");
                 });
    server_->Get("/api2/json/nodes/pve-01/tasks/" + upid + "/log",
                 [=](const httplib::Request&, httplib::Response& res) {
                   json(res, 200, R"j({"data":[{"n":1,"t":"INFO: starting new backup job"},
                     {"n":2,"t":"ERROR: Backup of VM 100 failed - storage 'local' is full"},
                     {"n":3,"t":"TASK ERROR: job errors"}]})j");
                 });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void TearDown() override {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  ClientOptions token_opts() {
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.token_id = "root@pam!pvesafe";
    o.token_secret = Secret(kSecret);
    o.fingerprint = cert_.fingerprint;
    o.timeout = std::chrono::milliseconds(5000);
    return o;
  }

  Errc code_of(const std::function<void()>& fn, std::string* msg = nullptr) {
    try {
      fn();
    } catch (const Error& e) {
      if (msg) *msg = e.what();
      return e.code();
    }
    ADD_FAILURE() << "no error thrown";
    return Errc::kInternal;
  }

  Cert cert_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> logins_{0}, polls_{0}, flaky_{0};
};

TEST_F(FakePve, TokenAuthWithPinnedFingerprint) {
  Client c(token_opts());
  auto data = c.get("/cluster/resources");
  ASSERT_TRUE(data.is_array());
  EXPECT_EQ(data[0]["vmid"], 100);
}

TEST_F(FakePve, FingerprintMismatchNamesBothAndTheOption) {
  auto o = token_opts();
  std::string wrong = cert_.fingerprint;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  o.fingerprint = wrong;
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/cluster/resources"); }, &msg), Errc::kAuth);
  EXPECT_NE(msg.find(cert_.fingerprint.substr(0, 17)), std::string::npos) << msg;
  EXPECT_NE(msg.find(wrong.substr(0, 17)), std::string::npos) << msg;
  EXPECT_NE(msg.find("--pve-fingerprint"), std::string::npos) << msg;
}

TEST_F(FakePve, UntrustedCertificateWithoutPinOrCa) {
  auto o = token_opts();
  o.fingerprint.clear();
  o.ca_file.clear();  // the system store did not sign it
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/cluster/resources"); }, &msg), Errc::kConfig);
  EXPECT_NE(msg.find("not trusted"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--pve-fingerprint"), std::string::npos) << msg;
}

TEST_F(FakePve, CaFileVerifiesTheServer) {
  auto o = token_opts();
  o.fingerprint.clear();
  o.ca_file = cert_.pem_path;
  Client c(o);
  EXPECT_TRUE(c.get("/cluster/resources").is_array());
}

TEST_F(FakePve, WrongTokenIs401Auth) {
  auto o = token_opts();
  o.token_secret = Secret("wrong");
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/cluster/resources"); }, &msg), Errc::kAuth);
  EXPECT_NE(msg.find("rejected the token root@pam!pvesafe"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("wrong"), std::string::npos) << "secret leaked: " << msg;
}

TEST_F(FakePve, ForbiddenNamesPathAndPrivilege) {
  Client c(token_opts());
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/nodes/pve-01/status"); }, &msg), Errc::kAuth);
  EXPECT_NE(msg.find("/nodes/pve-01, Sys.Audit"), std::string::npos) << msg;
}

TEST_F(FakePve, NodeUnreachableIsTransient) {
  auto o = token_opts();
  o.get_retries = 0;
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/nodes/pve-03/status"); }, &msg), Errc::kTransient);
  EXPECT_NE(msg.find("node unreachable"), std::string::npos) << msg;
}

TEST_F(FakePve, ServerErrorsAndBadParameters) {
  Client c(token_opts());
  std::string msg;
  EXPECT_EQ(code_of([&] { c.post("/nodes/pve-01/qemu", {{"vmid", "100"}}); }, &msg), Errc::kRemote);
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(code_of([&] { c.post("/nodes/pve-01/lxc", {{"vmid", "x"}}); }, &msg), Errc::kUsage);
  EXPECT_NE(msg.find("vmid: invalid format"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { c.get("/no/such/path"); }), Errc::kNotFound);
}

TEST_F(FakePve, MalformedReply) {
  Client c(token_opts());
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/version"); }, &msg), Errc::kRemote);
  EXPECT_NE(msg.find("malformed"), std::string::npos) << msg;
}

TEST_F(FakePve, TimeoutIsTransient) {
  auto o = token_opts();
  o.timeout = std::chrono::milliseconds(300);
  o.get_retries = 0;
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/slow"); }, &msg), Errc::kTransient);
  EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
}

TEST_F(FakePve, ReplyLargerThanTheLimitIsRemoteNamingTheLimit) {
  Client unlimited(token_opts());
  EXPECT_EQ(unlimited.get("/big").get<std::string>().size(), size_t{3} << 20);
  auto o = token_opts();
  o.max_response_bytes = 1 << 20;
  o.get_retries = 3;  // not transient: no retry would help
  Client c(o);
  for (const char* path : {"/big", "/big-streamed"}) {
    std::string msg;
    EXPECT_EQ(code_of([&] { c.get(path); }, &msg), Errc::kRemote) << path;
    EXPECT_NE(msg.find(std::string("GET ") + path), std::string::npos) << msg;
    EXPECT_NE(msg.find("larger than 1048576 bytes"), std::string::npos) << msg;
  }
  // The connection is fine afterwards.
  EXPECT_TRUE(c.get("/cluster/resources").is_array());
}

TEST_F(FakePve, GetRetriesTransientErrors) {
  Client c(token_opts());
  EXPECT_EQ(c.get("/flaky"), "third time");
  EXPECT_EQ(flaky_.load(), 3);
}

TEST_F(FakePve, TicketAuthSendsCookieAndCsrfOnWrites) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.user = "root@pam";
  o.password = Secret("pw");
  o.fingerprint = cert_.fingerprint;
  Client c(o);
  EXPECT_TRUE(c.get("/cluster/resources").is_array());
  EXPECT_TRUE(c.post("/nodes/pve-01/qemu/100/status/start").is_string());
  EXPECT_EQ(logins_.load(), 1);  // one ticket serves both calls
}

TEST_F(FakePve, WrongPasswordIs401Auth) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.user = "root@pam";
  o.password = Secret("nope");
  o.fingerprint = cert_.fingerprint;
  Client c(o);
  std::string msg;
  EXPECT_EQ(code_of([&] { c.get("/cluster/resources"); }, &msg), Errc::kAuth);
  EXPECT_NE(msg.find("login of root@pam"), std::string::npos) << msg;
}

TEST_F(FakePve, FailedTaskCarriesLogTail) {
  Client c(token_opts());
  WaitOptions w;
  w.poll_interval = std::chrono::milliseconds(20);
  std::string msg;
  EXPECT_EQ(code_of([&] {
              c.wait_task("UPID:pve-01:00001234:00ABCDEF:6745F0A1:vzdump:100:root@pam!pvesafe:",
                          std::chrono::seconds(30), w);
            }, &msg),
            Errc::kRemote);
  EXPECT_NE(msg.find("job errors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("storage 'local' is full"), std::string::npos) << msg;
  EXPECT_GE(polls_.load(), 3);
}

}  // namespace
}  // namespace pvesafe::pve
