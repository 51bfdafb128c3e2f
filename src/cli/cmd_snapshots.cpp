// pvesafe snapshots: list snapshots (table or --json), with filters.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"

namespace pvesafe::cli {

namespace {
struct SnapshotsFlags {
  RepoFlags repo;
  std::string guest, node, type, host;
  std::vector<std::string> tags;
};
}  // namespace

void register_snapshots(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("snapshots", "List snapshots");
  auto f = std::make_shared<SnapshotsFlags>();
  add_passphrase_flags(cmd, f->repo);
  cmd->add_option("--guest", f->guest, "Only this guest id");
  cmd->add_option("--node", f->node, "Only this node");
  cmd->add_option("--type", f->type, "Only this guest type");
  cmd->add_option("--host", f->host, "Only backups made on this host");
  cmd->add_option("--tag", f->tags, "Only snapshots with tag KEY=VALUE (repeatable)");
  cmd->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    repo::SnapshotFilter filter;
    filter.guest_id = f->guest;
    filter.node = f->node;
    filter.guest_type = f->type;
    filter.hostname = f->host;
    filter.tags = parse_tags(f->tags);
    auto list = repo.list_snapshots(filter);
    if (g.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& s : list) j.push_back(snapshot_json(s));
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : list) {
      std::string tags;
      for (const auto& [k, v] : s.tags) tags += (tags.empty() ? "" : ",") + k + "=" + v;
      std::string disks;
      for (const auto& d : s.disks) disks += (disks.empty() ? "" : ",") + d.name;
      std::string file = s.file_name;
      if (s.received) file += " (received " + s.received->compression + ")";
      rows.push_back({short_id(s.id), format_utc(s.time), s.node, s.guest_type, s.guest_id, file,
                      human_bytes(s.size_bytes), disks, tags});
    }
    print_table({"id", "time", "node", "type", "guest", "file", "size", "disks", "tags"}, rows);
    std::cout << list.size() << " snapshots\n";
  });
}

}  // namespace pvesafe::cli
