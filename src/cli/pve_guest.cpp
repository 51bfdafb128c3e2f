#include "cli/pve_guest.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "pve/client.h"
#include "pve/guest.h"
#include "pve/provision.h"
#include "pve/ssh.h"
#include "pve/vzdump.h"
#include "repo/backup.h"
#include "repo/catalog.h"
#include "repo/restore.h"

namespace pvesafe::cli {

namespace {

struct OneBackup {
  pve::GuestInfo guest;
  bool ok = false;
  Errc code = Errc::kInternal;
  std::string error;
  repo::BackupResult result;
  double vzdump_seconds = 0;
  double transfer_seconds = 0;
  std::string archive;
  bool archive_kept = false;
};

std::string stem_of_archive(const std::string& path) {
  for (const char* ext : {".vma", ".tar", ".tgz"}) {
    auto p = path.rfind(ext);
    if (p != std::string::npos) return path.substr(0, p);
  }
  return path;
}

OneBackup backup_one(pve::Client& client, const std::vector<pve::NodeInfo>& nodes,
                     const pve::GuestInfo& guest, const GuestBackupFlags& f,
                     repo::Repository& repo) {
  OneBackup b;
  b.guest = guest;
  pve::VzdumpOptions vo;
  vo.storage = f.dump_storage;
  vo.mode = f.mode;
  vo.compress = f.compress;
  vo.timeout = std::chrono::seconds(static_cast<int64_t>(f.task_timeout_seconds));
  vo.dump_dir_template = f.ssh.dump_dir;
  // SSH first: a node we cannot reach or whose host key is wrong fails before vzdump writes
  // an archive there.
  pve::SshSession ssh(ssh_options_for(f.ssh, guest.node, nodes));
  spdlog::info("guest {}: vzdump on {} to storage {}", guest.vmid, guest.node, f.dump_storage);
  pve::VzdumpResult dump = pve::run_vzdump(client, guest, vo);
  b.vzdump_seconds = dump.seconds;
  b.archive = dump.archive_path;
  spdlog::info("guest {}: archive {} ({}), streaming it into {}", guest.vmid, dump.archive_path,
               dump.exitstatus, repo.location());
  auto t0 = std::chrono::steady_clock::now();
  {
    pve::SftpSource source(ssh, dump.archive_path);
    repo::BackupOptions bo;
    bo.node = guest.node;
    bo.guest_id = guest.vmid;
    bo.guest_type = guest.type;
    bo.file_name = dump.file_name;
    bo.tags = {{"node", guest.node},
               {"guest", guest.vmid},
               {"type", guest.type},
               {"source", "vzdump-api"}};
    if (!guest.name.empty()) bo.tags["name"] = guest.name;
    try {
      b.result = repo::backup(repo, source, bo);
    } catch (const Error& e) {
      // The archive on the node is still a valid vzdump backup: leave it for the operator.
      throw Error(e.code(), e.message(),
                  fmt::format("{}{}the archive stays on {} as {}", e.hint(),
                              e.hint().empty() ? "" : "; ", guest.node, dump.archive_path));
    }
  }
  b.transfer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (f.keep_archive) {
    b.archive_kept = true;
  } else {
    std::string stem = stem_of_archive(dump.archive_path);
    ssh.remove(dump.archive_path);
    for (const char* side : {".log"}) ssh.remove(stem + side);
    ssh.remove(dump.archive_path + ".notes");
  }
  b.ok = true;
  return b;
}

void record_backup(repo::Catalog* catalog, std::mutex& mu, const repo::Repository& repo,
                   const OneBackup& b) {
  if (!catalog) return;
  repo::CatalogEvent ev;
  ev.kind = "backup";
  ev.repository = repo.location();
  ev.node = b.guest.node;
  ev.guest_id = b.guest.vmid;
  ev.guest_type = b.guest.type;
  if (b.ok) {
    ev.snapshot_id = b.result.snapshot_id;
    ev.file_name = b.result.snapshot.file_name;
    ev.size_bytes = static_cast<int64_t>(b.result.size_bytes);
    ev.stored_bytes = static_cast<int64_t>(b.result.stored_bytes);
    ev.duration_seconds = b.vzdump_seconds + b.transfer_seconds;
    ev.throughput_bytes_per_second =
        b.transfer_seconds > 0 ? static_cast<double>(b.result.size_bytes) / b.transfer_seconds : 0;
    ev.dedup_ratio = b.result.dedup_ratio;
    ev.result = "ok";
  } else {
    ev.result = "error";
    ev.error = b.error;
  }
  nlohmann::json d{{"source", "vzdump-api"},
                   {"vzdump_seconds", b.vzdump_seconds},
                   {"transfer_seconds", b.transfer_seconds},
                   {"archive", b.archive},
                   {"archive_kept", b.archive_kept}};
  ev.details_json = d.dump();
  std::lock_guard<std::mutex> lk(mu);
  try {
    catalog->record(ev);
  } catch (const Error& e) {
    spdlog::warn("could not record the backup of guest {} in the catalog: {}", b.guest.vmid,
                 e.what());
  }
}

}  // namespace

void add_guest_backup_flags(CLI::App* cmd, GuestBackupFlags& f) {
  auto* g = "Guest backup (vzdump on a node)";
  cmd->add_flag("--all", f.all, "Back up all guests of --node and/or --pool through vzdump")
      ->group(g);
  cmd->add_option("--pool", f.pool, "With --all: the pool whose guests to back up")->group(g);
  cmd->add_option("--jobs", f.jobs, "With --all: guests backed up at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 16))
      ->group(g);
  cmd->add_option("--dump-storage", f.dump_storage,
                  "Storage vzdump writes the archive to (file-based, content backup)")
      ->capture_default_str()
      ->group(g);
  cmd->add_option("--mode", f.mode, "vzdump mode")
      ->check(CLI::IsMember({"snapshot", "suspend", "stop"}))
      ->capture_default_str()
      ->group(g);
  cmd->add_option(
         "--compress", f.compress,
         "vzdump's compression: 0 (default: pvesafe sees the disks, dedups them, and compresses "
         "each chunk itself) or zstd|gzip|lzo (smaller on the node's disk and over SSH; pvesafe "
         "decompresses on the way in)")
      ->check(CLI::IsMember({"0", "zstd", "gzip", "lzo"}))
      ->capture_default_str()
      ->group(g);
  cmd->add_flag("--keep-archive", f.keep_archive, "Leave the vzdump archive on the node")->group(g);
  cmd->add_option("--task-timeout", f.task_timeout_seconds, "Seconds to wait for the vzdump task")
      ->capture_default_str()
      ->group(g);
  add_pve_flags(cmd, f.pve);
  add_ssh_flags(cmd, f.ssh);
}

bool guest_backup_requested(const GuestBackupFlags& f) { return !f.guest.empty() || f.all; }

void run_guest_backup(GuestBackupFlags& f, repo::Repository& repo, const GlobalOptions& g) {
  if (!f.guest.empty() && f.all) throw Error(Errc::kUsage, "--guest and --all exclude each other");
  if (f.all && f.node.empty() && f.pool.empty()) {
    throw Error(Errc::kUsage, "--all needs --node NODE or --pool POOL");
  }
  if (!f.guest.empty()) pve::check_vmid(f.guest);
  pve::ClientOptions co = pve_client_options(f.pve);
  pve::Client client(co);
  auto guests_all = pve::list_guests(client);
  auto nodes = pve::list_nodes(client);
  std::vector<pve::GuestInfo> guests;
  if (!f.guest.empty()) {
    guests.push_back(pve::find_guest(guests_all, f.guest));
  } else {
    if (!f.node.empty()) {
      bool known = false;
      for (const auto& n : nodes) known = known || n.name == f.node;
      if (!known) {
        throw Error(Errc::kNotFound, fmt::format("node {} is not a member of the cluster", f.node));
      }
    }
    guests = pve::select_guests(guests_all, f.node, f.pool);
    if (guests.empty()) {
      throw Error(Errc::kNotFound,
                  fmt::format("no guests on {}{}{}", f.node.empty() ? "" : "node " + f.node,
                              !f.node.empty() && !f.pool.empty() ? " in " : "",
                              f.pool.empty() ? "" : "pool " + f.pool));
    }
  }
  std::unique_ptr<repo::Catalog> catalog;
  try {
    catalog = std::make_unique<repo::Catalog>(repo::Catalog::open(catalog_path(g)));
  } catch (const Error& e) {
    spdlog::warn("catalog unavailable, backups are not recorded: {}", e.what());
  }
  std::mutex catalog_mu;
  std::vector<OneBackup> results(guests.size());
  auto run = [&](size_t i, pve::Client& c) {
    OneBackup& b = results[i];
    b.guest = guests[i];
    try {
      if (!pve::lookup_guest(c, guests[i].vmid)) {
        throw Error(Errc::kNotFound, fmt::format("guest {} disappeared", guests[i].vmid));
      }
      pve::require_online_node(c, guests[i].node);
      b = backup_one(c, nodes, guests[i], f, repo);
    } catch (const Error& e) {
      b.ok = false;
      b.code = e.code();
      b.error = e.what();
    }
    record_backup(catalog.get(), catalog_mu, repo, b);
  };
  if (guests.size() == 1) {
    run(0, client);
    if (!results[0].ok) throw Error(results[0].code, results[0].error);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    int n = std::min<int>(f.jobs, static_cast<int>(guests.size()));
    for (int w = 0; w < n; ++w) {
      workers.emplace_back([&] {
        std::unique_ptr<pve::Client> c;
        for (size_t i; (i = next.fetch_add(1)) < guests.size();) {
          try {
            if (!c) c = std::make_unique<pve::Client>(co);
            run(i, *c);
          } catch (const std::exception& e) {
            results[i].ok = false;
            results[i].code = Errc::kInternal;
            results[i].error = e.what();
          }
        }
      });
    }
    for (auto& t : workers) t.join();
  }
  // Summary.
  int failed = 0;
  Errc first = Errc::kInternal;
  for (const auto& b : results) {
    if (!b.ok && failed++ == 0) first = b.code;
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : results) {
      nlohmann::json j{{"vmid", b.guest.vmid},
                       {"type", b.guest.type},
                       {"node", b.guest.node},
                       {"result", b.ok ? "ok" : "error"},
                       {"vzdump_seconds", b.vzdump_seconds},
                       {"transfer_seconds", b.transfer_seconds}};
      if (b.ok) {
        j["snapshot_id"] = b.result.snapshot_id;
        j["file_name"] = b.result.snapshot.file_name;
        j["size_bytes"] = b.result.size_bytes;
        j["stored_bytes"] = b.result.stored_bytes;
        j["dedup_ratio"] = b.result.dedup_ratio;
        j["kind"] = b.result.snapshot.kind;
        nlohmann::json disks = nlohmann::json::array();
        for (const auto& d : b.result.disks) {
          disks.push_back(
              {{"name", d.name}, {"size_bytes", d.size_bytes}, {"data_bytes", d.data_bytes}});
        }
        j["disks"] = disks;
        if (b.archive_kept) j["archive"] = b.archive;
      } else {
        j["error"] = b.error;
        j["exit_code"] = exit_code(b.code);
      }
      out.push_back(j);
    }
    std::cout << nlohmann::json{{"guests", out}, {"failed", failed}}.dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<6} {:<5} {:<12} {:<6} {:>10} {:>10} {:>8} {:>9}  {}\n", "VMID",
                             "TYPE", "NODE", "RESULT", "SIZE", "STORED", "VZDUMP", "TRANSFER",
                             "SNAPSHOT");
    for (const auto& b : results) {
      std::cout << fmt::format("{:<6} {:<5} {:<12} {:<6} {:>10} {:>10} {:>7.1f}s {:>8.1f}s  {}\n",
                               b.guest.vmid, b.guest.type, b.guest.node, b.ok ? "ok" : "error",
                               b.ok ? human_bytes(b.result.size_bytes) : "-",
                               b.ok ? human_bytes(b.result.stored_bytes) : "-", b.vzdump_seconds,
                               b.transfer_seconds, b.ok ? short_id(b.result.snapshot_id) : "-");
    }
    for (const auto& b : results) {
      if (!b.ok) std::cout << fmt::format("guest {}: {}\n", b.guest.vmid, b.error);
    }
    if (results.size() > 1) {
      std::cout << fmt::format("{} of {} guests backed up\n", results.size() - failed,
                               results.size());
    }
  }
  if (failed) set_exit_status(exit_code(first));
}

// ---- restore ---------------------------------------------------------------------------------

void add_guest_restore_flags(CLI::App* cmd, GuestRestoreFlags& f) {
  auto* g = "Restore to a guest";
  cmd->add_option("--storage", f.storage, "Storage for the guest's disks (default: PVE's choice)")
      ->group(g);
  cmd->add_option("--dump-storage", f.dump_storage,
                  "Storage the archive is staged in on the node (file-based, content backup)")
      ->capture_default_str()
      ->group(g);
  cmd->add_option("--new-id", f.new_id, "Create the guest under this vmid instead of --guest")
      ->group(g);
  cmd->add_flag("--start", f.start, "Start the guest after the restore")->group(g);
  // One flag for both targets: replace what is there.
  cmd->add_flag("--force", f.force,
                "Overwrite an existing (stopped) guest with that vmid; with --to, replace an "
                "existing file or write over a block or character device (a disk)");
  cmd->add_flag("--keep-archive", f.keep_archive, "Leave the staged archive on the node")->group(g);
  cmd->add_option("--task-timeout", f.task_timeout_seconds, "Seconds to wait for the restore task")
      ->capture_default_str()
      ->group(g);
  add_pve_flags(cmd, f.pve);
  add_ssh_flags(cmd, f.ssh);
}

bool guest_restore_requested(const GuestRestoreFlags& f) { return !f.guest.empty(); }

void run_guest_restore(GuestRestoreFlags& f, repo::Repository& repo, const std::string& snapshot,
                       const GlobalOptions& g) {
  pve::check_vmid(f.guest);
  if (!f.new_id.empty()) pve::check_vmid(f.new_id);
  if (f.node.empty()) throw Error(Errc::kUsage, "restore --guest needs --node NODE");
  auto t0 = std::chrono::steady_clock::now();
  repo::SnapshotFilter filter;
  filter.guest_id = f.guest;
  std::string id = repo.resolve_snapshot(
      snapshot.empty() ? "latest" : snapshot,
      snapshot == "latest" || snapshot.empty() ? filter : repo::SnapshotFilter{});
  repo::Manifest m = repo.load_manifest(id);
  pve::ArchiveKind kind = pve::archive_kind(m.info.file_name);
  std::string type = m.info.guest_type.empty() ? kind.type : m.info.guest_type;

  pve::Client client(pve_client_options(f.pve));
  auto nodes = pve::list_nodes(client);
  pve::SshSession ssh(ssh_options_for(f.ssh, f.node, nodes));
  pve::RestoreTarget t;
  t.node = f.node;
  t.vmid = f.new_id.empty() ? f.guest : f.new_id;
  t.type = type;
  t.storage = f.storage;
  t.dump_storage = f.dump_storage;
  t.dump_dir_template = f.ssh.dump_dir;
  t.force = f.force;
  t.keep_archive = f.keep_archive;
  t.timeout = std::chrono::seconds(static_cast<int64_t>(f.task_timeout_seconds));

  std::unique_ptr<repo::Catalog> catalog;
  try {
    catalog = std::make_unique<repo::Catalog>(repo::Catalog::open(catalog_path(g)));
  } catch (const Error& e) {
    spdlog::warn("catalog unavailable, the restore is not recorded: {}", e.what());
  }
  repo::CatalogEvent ev;
  ev.kind = "restore";
  ev.repository = repo.location();
  ev.snapshot_id = id;
  ev.node = f.node;
  ev.guest_id = t.vmid;
  ev.guest_type = type;
  ev.file_name = m.info.file_name;
  try {
    pve::GuestRestore gr(client, ssh, t, kind.extension);
    gr.preflight();
    spdlog::info("restoring snapshot {} ({}) to {} {} on {}", short_id(id), m.info.file_name, type,
                 t.vmid, t.node);
    auto tr = std::chrono::steady_clock::now();
    repo::RestoreResult rr = repo::restore(repo, id, gr.upload());
    double transfer = std::chrono::duration<double>(std::chrono::steady_clock::now() - tr).count();
    auto tc = std::chrono::steady_clock::now();
    gr.create();
    double create = std::chrono::duration<double>(std::chrono::steady_clock::now() - tc).count();
    if (f.start) gr.start();
    gr.commit();
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ev.size_bytes = static_cast<int64_t>(rr.size_bytes);
    ev.duration_seconds = total;
    ev.throughput_bytes_per_second =
        transfer > 0 ? static_cast<double>(rr.size_bytes) / transfer : 0;
    ev.details_json = nlohmann::json{
        {"transfer_seconds", transfer},
        {"create_seconds", create},
        {"started", f.start},
        {"forced",
         f.force}}.dump();
    if (catalog) catalog->record(ev);
    if (g.json) {
      std::cout << nlohmann::json{{"snapshot_id", id},
                                  {"vmid", t.vmid},
                                  {"type", type},
                                  {"node", t.node},
                                  {"size_bytes", rr.size_bytes},
                                  {"transfer_seconds", transfer},
                                  {"create_seconds", create},
                                  {"started", f.start},
                                  {"duration_seconds", total}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << fmt::format("restored snapshot {} ({}, {}) to {} {} on {} in {:.1f}s{}\n",
                               short_id(id), m.info.file_name, human_bytes(rr.size_bytes), type,
                               t.vmid, t.node, total, f.start ? ", started" : "");
    }
  } catch (const Error& e) {
    ev.result = "error";
    ev.error = e.what();
    if (catalog) {
      try {
        catalog->record(ev);
      } catch (...) {
      }
    }
    throw;
  }
}

}  // namespace pvesafe::cli
