// vzdump through the API: POST /nodes/{node}/vzdump for one guest, wait for the task, and find
// the archive it wrote (from the task log line "creating vzdump archive '<path>'", else from the
// storage's backup content and dump directory).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pve/client.h"
#include "pve/guest.h"

namespace pvesafe::pve {

struct VzdumpOptions {
  std::string storage = "local";  // a file-based storage with content "backup"
  std::string mode = "snapshot";  // snapshot | suspend | stop
  std::string compress = "zstd";  // 0 | gzip | lzo | zstd
  std::chrono::seconds timeout{6 * 3600};
  // Template for the dump directory on a node, "{node}" and "{storage}" substituted; empty: the
  // storage's "path" from /storage/{storage} plus "/dump".
  std::string dump_dir_template;
  std::function<void(const TaskStatus&)> on_poll;
};

struct VzdumpResult {
  std::string upid;
  std::string node;
  std::string archive_path;  // absolute path on the node
  std::string file_name;     // base name
  double seconds = 0;
  std::string exitstatus;    // OK or WARNINGS: N
  std::vector<std::string> log_tail;
};

// Runs vzdump for the guest on its node and waits. Errors: kRemote with the task log tail when
// the task fails, kRemote when no archive can be found afterwards.
VzdumpResult run_vzdump(Client& client, const GuestInfo& guest, const VzdumpOptions& options);

// The archive path from vzdump's log ("INFO: creating vzdump archive '/var/lib/vz/dump/...'").
std::optional<std::string> archive_path_from_log(const std::vector<std::string>& lines);

// Dump directory of `storage` on `node` (see VzdumpOptions::dump_dir_template).
std::string storage_dump_dir(Client& client, const std::string& node, const std::string& storage,
                             const std::string& dump_dir_template = {});

}  // namespace pvesafe::pve
