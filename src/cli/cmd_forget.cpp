// pvesafe forget --keep-... [--prune] [--dry-run]   and   pvesafe prune --keep-... (forget + gc)
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/gc.h"
#include "repo/lock.h"
#include "repo/retention.h"

namespace pvesafe::cli {

namespace {
struct ForgetFlags {
  RepoFlags repo;
  repo::KeepPolicy keep;
  bool prune = false;
  bool dry_run = false;
  std::string grace = "24h";
  std::string guest, node, type;
};

void add_flags(CLI::App* cmd, ForgetFlags& f, bool with_prune_flag) {
  add_passphrase_flags(cmd, f.repo);
  cmd->add_option("--keep-last", f.keep.last, "Keep the N newest snapshots");
  cmd->add_option("--keep-hourly", f.keep.hourly, "Keep the newest snapshot of each of N hours");
  cmd->add_option("--keep-daily", f.keep.daily, "Keep the newest snapshot of each of N days");
  cmd->add_option("--keep-weekly", f.keep.weekly, "Keep the newest snapshot of each of N ISO weeks");
  cmd->add_option("--keep-monthly", f.keep.monthly, "Keep the newest snapshot of each of N months");
  cmd->add_option("--keep-yearly", f.keep.yearly, "Keep the newest snapshot of each of N years");
  if (with_prune_flag) cmd->add_flag("--prune", f.prune, "Also remove chunks no snapshot needs any more");
  cmd->add_flag("--dry-run,-n", f.dry_run, "Show what would be removed, change nothing");
  cmd->add_option("--grace", f.grace, "gc: keep unreferenced chunks not seen before for this long (default 24h)");
  cmd->add_option("--guest", f.guest, "Only snapshots of this guest");
  cmd->add_option("--node", f.node, "Only snapshots from this node");
  cmd->add_option("--type", f.type, "Only snapshots of this guest type");
}

void run(GlobalOptions& g, ForgetFlags& f) {
  if (!f.keep.any()) {
    throw Error(Errc::kUsage, "no --keep-* option given: refusing to forget everything",
                "e.g. --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 6");
  }
  auto grace = parse_duration(f.grace);
  repo::CatalogEvent ev;
  ev.kind = "prune";
  ev.repository = g.repo;
  ev.guest_id = f.guest;
  ev.node = f.node;
  const auto start = std::chrono::steady_clock::now();
  try {
    auto repo = open_repository(g, f.repo);
    repo.require_full_key(f.prune ? "prune" : "forget snapshots");
    ev.repository = repo.location();
    auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kExclusive, f.prune ? "prune" : "forget");
    repo::SnapshotFilter filter;
    filter.guest_id = f.guest;
    filter.node = f.node;
    filter.guest_type = f.type;
    auto all = repo.list_snapshots();
    std::vector<repo::SnapshotInfo> selected;
    for (const auto& s : all)
      if (filter.matches(s)) selected.push_back(s);
    auto decisions = repo::apply_retention_grouped(selected, f.keep);
    std::vector<std::string> forget_ids, keep_ids;
    for (const auto& d : decisions) (d.keep ? keep_ids : forget_ids).push_back(d.snapshot.id);
    std::vector<store::Retained> retained;
    if (!f.dry_run && !forget_ids.empty()) retained = repo.remove_snapshots(forget_ids);
    // A snapshot under Object Lock stays until its retention date: say so, forget the rest.
    for (const auto& k : retained) {
      const std::string id = k.key.substr(k.key.find('/') + 1);
      std::erase(forget_ids, id);
      keep_ids.push_back(id);
      for (auto& d : decisions) {
        if (d.snapshot.id == id) {
          d.keep = true;
          d.reason = "Object Lock until " + format_utc(k.until);
        }
      }
    }
    repo::GcResult gr;
    if (f.prune) {
      repo::GcOptions go;
      go.grace = grace;
      go.dry_run = f.dry_run;
      if (f.dry_run) go.assume_forgotten = forget_ids;  // report what forgetting them would free
      gr = repo::collect_garbage(repo, go);
    }
    lock->release();
    ev.stored_bytes = -static_cast<int64_t>(gr.removed_bytes);
    ev.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json forgotten = nlohmann::json::array(), kept = nlohmann::json::array();
    for (const auto& d : decisions) {
      auto j = snapshot_json(d.snapshot);
      j["reason"] = d.reason;
      (d.keep ? kept : forgotten).push_back(j);
    }
    nlohmann::json details{{"dry_run", f.dry_run},
                           {"forgotten", forgotten.size()},
                           {"kept", kept.size()},
                           {"removed_chunks", gr.removed_chunks},
                           {"removed_bytes", gr.removed_bytes},
                           {"pending_chunks", gr.pending_chunks},
                           {"locked_snapshots", retained.size()},
                           {"locked_objects", gr.locked_objects}};
    ev.details_json = details.dump();
    if (!f.dry_run) record_event(g, ev);
    if (g.json) {
      details["forgotten_snapshots"] = forgotten;
      details["kept_snapshots"] = kept;
      std::cout << details.dump(2) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : decisions) {
      rows.push_back({d.keep ? "keep" : (f.dry_run ? "would forget" : "forget"), short_id(d.snapshot.id),
                      d.snapshot.time_utc, repo::retention_group(d.snapshot), d.reason});
    }
    print_table({"action", "id", "time", "group", "reason"}, rows);
    std::cout << (f.dry_run ? "would forget " : "forgot ") << forget_ids.size() << " snapshots, kept "
              << keep_ids.size();
    if (f.prune) {
      std::cout << "; " << (f.dry_run ? "would remove " : "removed ") << gr.removed_chunks << " chunks";
      if (!f.dry_run) std::cout << " (" << human_bytes(gr.removed_bytes) << "), " << gr.pending_chunks << " unreferenced chunks within the grace period";
    }
    std::cout << "\n";
    if (!retained.empty()) {
      std::cout << retained.size()
                << " snapshots stay under Object Lock (first: " << retained.front().key << " until "
                << format_utc(retained.front().until) << ")\n";
    }
    if (gr.locked_objects > 0) {
      std::cout << gr.locked_objects
                << " objects gc would remove stay under Object Lock (first: " << gr.locked_example
                << "); a later gc removes them\n";
    }
  } catch (const Error& e) {
    if (!f.dry_run) record_failure(g, ev, e);
    throw;
  }
}
}  // namespace

void register_forget(CLI::App& app, GlobalOptions& g) {
  auto* forget = app.add_subcommand("forget", "Remove snapshots by retention policy (PBS/vzdump semantics)");
  auto f = std::make_shared<ForgetFlags>();
  add_flags(forget, *f, true);
  forget->callback([&g, f] { run(g, *f); });

  auto* prune = app.add_subcommand("prune", "forget by retention policy, then remove unreferenced chunks");
  auto p = std::make_shared<ForgetFlags>();
  add_flags(prune, *p, false);
  prune->callback([&g, p] {
    p->prune = true;
    run(g, *p);
  });
}

}  // namespace pvesafe::cli
