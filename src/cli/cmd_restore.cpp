// pvesafe restore SNAPSHOT|latest --to FILE|-
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/restore.h"

namespace pvesafe::cli {

namespace {
struct RestoreFlags {
  RepoFlags repo;
  std::string snapshot;
  std::string to;
  std::string guest, node, type;
  int threads = 0;
};
}  // namespace

void register_restore(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("restore", "Restore a snapshot to a file or stdout, bit for bit");
  auto f = std::make_shared<RestoreFlags>();
  add_passphrase_flags(cmd, f->repo);
  cmd->add_option("snapshot", f->snapshot, "Snapshot id, unique prefix, or latest")->required();
  cmd->add_option("--to", f->to, "Target file, device, or - for stdout")->required();
  cmd->add_option("--guest", f->guest, "With latest: newest snapshot of this guest");
  cmd->add_option("--node", f->node, "With latest: newest snapshot from this node");
  cmd->add_option("--type", f->type, "With latest: guest type qemu|lxc");
  cmd->add_option("--threads", f->threads, "Parallel fetches (default: CPUs or the store's preference)");
  cmd->callback([&g, f] {
    repo::CatalogEvent ev;
    ev.kind = "restore";
    ev.repository = g.repo;
    try {
      auto repo = open_repository(g, f->repo);
      ev.repository = repo.location();
      repo::RestoreOptions opt;
      opt.threads = f->threads;
      opt.filter.guest_id = f->guest;
      opt.filter.node = f->node;
      opt.filter.guest_type = f->type;
      std::string id = repo.resolve_snapshot(f->snapshot, opt.filter);
      ev.snapshot_id = id;
      std::unique_ptr<repo::ByteSink> sink;
      if (f->to == "-") sink = std::make_unique<repo::FdSink>(1, "stdout");
      else sink = std::make_unique<repo::FileSink>(f->to);
      if (f->to != "-") opt.progress = make_progress(g, "restore");
      auto r = repo::restore(repo, id, *sink, opt);
      end_progress(g);
      ev.node = r.snapshot.node;
      ev.guest_id = r.snapshot.guest_id;
      ev.guest_type = r.snapshot.guest_type;
      ev.file_name = r.snapshot.file_name;
      ev.size_bytes = static_cast<int64_t>(r.size_bytes);
      ev.duration_seconds = r.duration_seconds;
      ev.throughput_bytes_per_second = r.duration_seconds > 0 ? r.size_bytes / r.duration_seconds : 0;
      record_event(g, ev);
      if (f->to == "-") {
        if (!g.quiet) {
          std::cerr << "restored snapshot " << r.snapshot_id << " (" << r.size_bytes << " bytes) to stdout\n";
        }
        return;
      }
      if (g.json) {
        nlohmann::json j{{"snapshot_id", r.snapshot_id}, {"file_name", r.snapshot.file_name},
                         {"to", f->to}, {"size_bytes", r.size_bytes}, {"chunks", r.chunks},
                         {"duration_seconds", r.duration_seconds},
                         {"throughput_bytes_per_second", ev.throughput_bytes_per_second}};
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << "restored snapshot " << r.snapshot_id << " (" << r.snapshot.file_name << ", "
                  << r.size_bytes << " bytes) to " << f->to << " in " << fixed(r.duration_seconds)
                  << " s\n";
      }
    } catch (const Error& e) {
      end_progress(g);
      ev.result = "error";
      ev.error = e.what();
      if (e.code() != Errc::kUsage) record_event(g, ev);
      throw;
    }
  });
}

}  // namespace pvesafe::cli
