// pve::Client talks to the Proxmox VE REST API (https://HOST:8006/api2/json/...).
//
// Authentication: an API token (recommended; header "Authorization: PVEAPIToken=ID=SECRET") or a
// user and password (POST /access/ticket; the ticket travels as the PVEAuthCookie cookie, writes
// carry the CSRFPreventionToken header; the ticket is renewed after an hour, before PVE's 2 h
// expiry). TLS is always verified: against a CA file, the system store, or a pinned SHA-256
// fingerprint of the node's (usually self-signed) certificate.
//
// Every call returns the "data" member of PVE's {"data": ...} envelope and throws pvesafe::Error
// with a one-line message on failure:
//   401 -> kAuth ("token rejected ..." / "login rejected ...")
//   403 -> kAuth naming the privilege and path PVE reported ("Permission check failed (/vms/100,
//          VM.Backup)")
//   404 -> kNotFound; 400 -> kUsage (PVE's parameter errors listed)
//   500 -> kRemote (PVE reports failed operations as 500 with a message)
//   502/503/504, 595/596 (node unreachable through the cluster proxy), connection failures and
//          timeouts -> kTransient; a reply that is not the JSON envelope -> kRemote
// GET requests are retried a few times on kTransient; writes are not retried.
// A reply body larger than ClientOptions::max_response_bytes is kRemote naming the call and the
// limit; a Content-Length above it fails the call before the body is read.
//
// A Client is not thread-safe: use one per thread (they are cheap).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/secret.h"

namespace pvesafe::pve {

struct ClientOptions {
  std::string host;  // name or address of any cluster node
  int port = 8006;
  std::string token_id;  // USER@REALM!TOKENID
  Secret token_secret;
  std::string user;  // ticket auth: USER@REALM
  Secret password;
  std::string ca_file;      // PEM bundle to verify the server certificate against
  std::string fingerprint;  // sha256 pin "AB:CD:..." (colons optional, case-insensitive)
  bool verify_tls = true;   // false only for tests of the error path; never from the CLI
  std::chrono::milliseconds timeout{10000};  // per request (connect + transfer)
  int get_retries = 2;                       // extra attempts for GET on kTransient
  // Largest reply body accepted. The biggest answers PVE gives are /cluster/resources and task
  // logs: about 5 MiB for 10,000 guests or 50,000 log lines.
  size_t max_response_bytes = size_t{64} << 20;
};

// UPID:$node:$pid(8 hex):$pstart(8-9 hex):$starttime(8 hex):$type:$id:$user:
struct Upid {
  std::string node;
  uint32_t pid = 0;
  uint64_t pstart = 0;
  int64_t starttime = 0;  // seconds since the epoch
  std::string type;       // vzdump, qmrestore, vzrestore, qmstart, qmdestroy, ...
  std::string id;         // usually the vmid; may be empty
  std::string user;

  // Throws kRemote naming the string when it is not a UPID.
  static Upid parse(const std::string& upid);
};

struct TaskStatus {
  std::string upid;
  std::string node;
  std::string type;
  std::string status;      // "running" | "stopped"
  std::string exitstatus;  // "OK", "WARNINGS: 2", or the error message
  std::vector<std::string> log_tail;  // last log lines (filled when the task failed or warned)
  double duration_seconds = 0;

  bool running() const { return status == "running"; }
  bool ok() const { return exitstatus == "OK"; }
  bool warnings() const { return exitstatus.rfind("WARNINGS", 0) == 0; }
};

struct WaitOptions {
  std::chrono::milliseconds poll_interval{200};  // grows by half up to 2 s
  // Called after each poll while the task runs (progress display); may be empty.
  std::function<void(const TaskStatus&)> on_poll;
  bool accept_warnings = true;  // "WARNINGS: N" counts as success
  size_t log_lines = 10;        // how many last log lines go into the error
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // path like "/nodes/pve-01/status" (relative to /api2/json). Query and form values are
  // URL-encoded here.
  nlohmann::json get(const std::string& path, const std::map<std::string, std::string>& query = {});
  nlohmann::json post(const std::string& path, const std::map<std::string, std::string>& form = {});
  nlohmann::json put(const std::string& path, const std::map<std::string, std::string>& form = {});
  nlohmann::json del(const std::string& path, const std::map<std::string, std::string>& query = {});

  // Polls GET /nodes/{node}/tasks/{upid}/status until the task stops or `timeout` passes.
  // Returns the final status when it is OK (or WARNINGS with accept_warnings). Throws:
  //   kRemote  "task UPID failed: <exitstatus>" followed by the task's last log lines
  //   kTransient when the timeout passes (the task keeps running on the node)
  TaskStatus wait_task(const std::string& upid, std::chrono::seconds timeout,
                       const WaitOptions& options = {});

  // The task's log (GET /nodes/{node}/tasks/{upid}/log), at most `limit` lines from `start`.
  std::vector<std::string> task_log(const std::string& upid, int start = 0, int limit = 50000);

  // "https://HOST:PORT" for messages.
  std::string endpoint() const;
  const ClientOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Normalises a fingerprint to "AB:CD:..." (upper case, colons), accepting "abcd..." and
// "sha256:ab:cd". Throws kUsage when it is not 32 bytes of hex.
std::string normalize_fingerprint(const std::string& fingerprint);

// Type-erased GET, so collectors and checks can be tested with recorded JSON.
using ApiGet = std::function<nlohmann::json(const std::string& path)>;
inline ApiGet api_get(Client& client) {
  return [&client](const std::string& path) { return client.get(path); };
}

}  // namespace pvesafe::pve
