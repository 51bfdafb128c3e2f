#include "pve/vzdump.h"

#include <regex>

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::pve {

namespace {
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}
std::string base_name(const std::string& path) {
  auto p = path.find_last_of('/');
  return p == std::string::npos ? path : path.substr(p + 1);
}
}  // namespace

std::optional<std::string> archive_path_from_log(const std::vector<std::string>& lines) {
  static const std::regex re(R"(creating (?:vzdump )?archive '([^']+)')");
  std::optional<std::string> found;
  for (const auto& l : lines) {
    std::smatch m;
    if (std::regex_search(l, m, re)) found = m[1].str();
  }
  return found;
}

std::string storage_dump_dir(Client& client, const std::string& node, const std::string& storage,
                             const std::string& tmpl) {
  if (!tmpl.empty()) {
    return replace_all(replace_all(tmpl, "{node}", node), "{storage}", storage);
  }
  auto cfg = client.get(fmt::format("/storage/{}", storage));
  if (!cfg.is_object() || !cfg.contains("path") || !cfg["path"].is_string()) {
    throw Error(Errc::kUnsupported,
                fmt::format("storage {} has no directory path (type {})", storage,
                            cfg.is_object() ? cfg.value("type", std::string("?")) : "?"),
                "use a file-based storage with content 'backup' (dir, nfs, cifs, cephfs) for "
                "--dump-storage");
  }
  return cfg["path"].get<std::string>() + "/dump";
}

VzdumpResult run_vzdump(Client& client, const GuestInfo& guest, const VzdumpOptions& options) {
  auto started = std::chrono::steady_clock::now();
  auto upid_json = client.post(fmt::format("/nodes/{}/vzdump", guest.node),
                               {{"vmid", guest.vmid},
                                {"storage", options.storage},
                                {"mode", options.mode},
                                {"compress", options.compress}});
  if (!upid_json.is_string()) {
    throw Error(Errc::kRemote, fmt::format("vzdump of guest {} on {} returned no task id",
                                           guest.vmid, guest.node));
  }
  VzdumpResult r;
  r.upid = upid_json.get<std::string>();
  r.node = guest.node;
  WaitOptions w;
  w.on_poll = options.on_poll;
  w.log_lines = 15;
  TaskStatus st = client.wait_task(r.upid, options.timeout, w);
  r.exitstatus = st.exitstatus;
  r.log_tail = st.log_tail;
  std::vector<std::string> log = client.task_log(r.upid);
  if (auto p = archive_path_from_log(log)) {
    r.archive_path = *p;
  } else {
    // Fall back to the newest backup volume of this guest on the storage.
    auto content = client.get(fmt::format("/nodes/{}/storage/{}/content", guest.node, options.storage),
                              {{"content", "backup"}, {"vmid", guest.vmid}});
    std::string best;
    int64_t best_ctime = -1;
    if (content.is_array()) {
      for (const auto& v : content) {
        if (!v.is_object() || !v.contains("volid")) continue;
        int64_t ctime = v.value("ctime", int64_t{0});
        if (ctime >= best_ctime) {
          best_ctime = ctime;
          best = v["volid"].get<std::string>();
        }
      }
    }
    auto slash = best.find('/');
    if (best.empty() || slash == std::string::npos) {
      throw Error(Errc::kRemote,
                  fmt::format("vzdump of guest {} on {} finished but its archive was not found",
                              guest.vmid, guest.node),
                  fmt::format("check the task log of {}", r.upid));
    }
    r.archive_path = storage_dump_dir(client, guest.node, options.storage, options.dump_dir_template) +
                     "/" + best.substr(slash + 1);
  }
  r.file_name = base_name(r.archive_path);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

}  // namespace pvesafe::pve
