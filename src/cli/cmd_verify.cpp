// pvesafe verify [--read-data]: structure check, optionally every object decrypted and re-hashed.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/lock.h"
#include "repo/verify.h"

namespace pvesafe::cli {

namespace {
struct VerifyFlags {
  RepoFlags repo;
  bool read_data = false;
  int threads = 0;
};
}  // namespace

void register_verify(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("verify", "Check the repository; --read-data also decrypts and re-hashes every chunk");
  auto f = std::make_shared<VerifyFlags>();
  add_passphrase_flags(cmd, f->repo);
  cmd->add_flag("--read-data", f->read_data, "Read, decrypt, decompress and re-hash every chunk");
  cmd->add_option("--threads", f->threads, "Parallel reads for --read-data");
  cmd->callback([&g, f] {
    repo::CatalogEvent ev;
    ev.kind = "verify";
    ev.repository = g.repo;
    try {
      auto repo = open_repository(g, f->repo);
      if (f->read_data) repo.require_data_access("verify --read-data");
      ev.repository = repo.location();
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "verify");
      repo::VerifyOptions opt;
      opt.read_data = f->read_data;
      opt.threads = f->threads;
      auto r = repo::verify(repo, opt);
      lock->release();
      ev.size_bytes = static_cast<int64_t>(r.bytes_read);
      ev.duration_seconds = r.duration_seconds;
      ev.throughput_bytes_per_second = r.duration_seconds > 0 ? r.bytes_read / r.duration_seconds : 0;
      nlohmann::json problems = nlohmann::json::array();
      for (const auto& p : r.problems) problems.push_back({{"key", p.key}, {"snapshot_id", p.snapshot_id}, {"message", p.message}});
      nlohmann::json details{{"read_data", f->read_data}, {"snapshots", r.snapshots},
                             {"chunks_referenced", r.chunks_referenced}, {"chunks_in_store", r.chunks_in_store},
                             {"chunks_read", r.chunks_read}, {"problems", problems}};
      ev.details_json = details.dump();
      if (!r.ok()) {
        ev.result = "error";
        ev.error = std::to_string(r.problems.size()) + " problems";
      }
      record_event(g, ev);
      if (g.json) {
        details["ok"] = r.ok();
        details["bytes_read"] = r.bytes_read;
        details["duration_seconds"] = r.duration_seconds;
        std::cout << details.dump(2) << "\n";
      } else {
        for (const auto& p : r.problems) std::cout << "BAD " << p.key << ": " << p.message << "\n";
        std::cout << r.snapshots << " snapshots, " << r.chunks_referenced << " chunks referenced, "
                  << r.chunks_in_store << " in store";
        if (f->read_data) std::cout << ", " << r.chunks_read << " read (" << human_bytes(r.bytes_read) << ")";
        std::cout << ": " << (r.ok() ? "no problems" : std::to_string(r.problems.size()) + " problems") << "\n";
      }
      if (!r.ok()) {
        throw Error(Errc::kIntegrity,
                    "verify found " + std::to_string(r.problems.size()) + " problems in " + repo.location() +
                        " (first: " + r.problems.front().key + ")",
                    "see docs/recovery.md; affected snapshots cannot be restored in full");
      }
    } catch (const Error& e) {
      if (ev.result != "error") record_failure(g, ev, e);  // not recorded yet
      throw;
    }
  });
}

}  // namespace pvesafe::cli
