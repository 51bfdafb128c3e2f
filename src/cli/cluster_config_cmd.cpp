#include "cli/cluster_config_cmd.h"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/repo_context.h"
#include "core/error.h"
#include "core/utc_time.h"
#include "jobs/cluster_config.h"

namespace pvesafe::cli {

namespace {

const char* state_name(jobs::FileChange::State s) {
  switch (s) {
    case jobs::FileChange::State::kSame:
      return "same";
    case jobs::FileChange::State::kChanged:
      return "changed";
    case jobs::FileChange::State::kOnlyInBackup:
      return "only-in-backup";
    case jobs::FileChange::State::kOnlyOnCluster:
      return "only-on-cluster";
  }
  return "?";
}

nlohmann::json change_json(const jobs::FileChange& c) {
  nlohmann::json j{{"path", c.path},
                   {"state", state_name(c.state)},
                   {"action", c.action},
                   {"reason", c.reason},
                   {"secret", c.secret}};
  if (!c.diff.empty()) j["diff"] = c.diff;
  return j;
}

std::map<std::string, std::string> parse_map(const std::vector<std::string>& items) {
  std::map<std::string, std::string> m;
  for (const auto& s : items) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
      throw Error(Errc::kUsage, fmt::format("--storage-map '{}' is not OLD=NEW", s),
                  "e.g. --storage-map local-lvm=fast-ssd");
    }
    m[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return m;
}

void print_plan(const jobs::ClusterConfigPlan& plan, bool show_same) {
  std::cout << fmt::format("snapshot {} of cluster {} against cluster {} (read on {})\n",
                           short_id(plan.snapshot_id), plan.backup_cluster, plan.target_cluster,
                           plan.target_node);
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : plan.files) {
    if (!show_same && f.state == jobs::FileChange::State::kSame) continue;
    rows.push_back({f.path, state_name(f.state), f.action, f.reason});
  }
  print_table({"/etc/pve", "state", "apply", "why"}, rows);
  for (const auto& f : plan.files) {
    if (f.diff.empty()) continue;
    std::cout << f.diff;
    if (!f.diff.empty() && f.diff.back() != '\n') std::cout << "\n";
  }
  for (const auto& f : plan.files) {
    if (f.secret && f.state == jobs::FileChange::State::kChanged) {
      std::cout << fmt::format("{}: secret, differs (content not shown)\n", f.path);
    }
  }
  for (const auto& f : plan.node_files) {
    if (f.state == jobs::FileChange::State::kSame) continue;
    std::cout << fmt::format("node file {}: {} (never applied: {})\n", f.path, state_name(f.state),
                             f.reason);
    std::cout << f.diff;
  }
  std::cout << fmt::format("{} file(s) would be written by --apply\n", plan.to_apply());
}

}  // namespace

void add_cluster_config_backup_flag(CLI::App* cmd, bool& requested) {
  cmd->add_flag("--cluster-config", requested,
                "Back up the cluster's own configuration instead of a guest: /etc/pve (guest "
                "configs, storage.cfg, datacenter.cfg, users and tokens, HA, firewall, "
                "corosync.conf; the secrets under priv/ too, encrypted like every snapshot), the "
                "API's view of the cluster, and each node's network, hosts, DNS and apt sources "
                "(needs the --pve-* and --ssh-* flags)")
      ->group("Cluster configuration");
}

void run_cluster_config_backup(PveFlags& pve, SshFlags& ssh, const std::vector<std::string>& tags,
                               repo::Repository& repo, const GlobalOptions& g) {
  jobs::ClusterConfigBackupOptions o;
  o.api = pve_client_options(pve);
  o.ssh = ssh_targets(ssh);
  o.tags = parse_tags(tags);
  auto r = jobs::backup_cluster_config(repo, o, event_log(g));
  if (g.json) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : r.nodes) {
      nodes.push_back({{"node", n.node},
                       {"online", n.online},
                       {"collected", n.collected},
                       {"files", n.files},
                       {"error", n.error}});
    }
    std::cout << nlohmann::json{{"snapshot_id", r.backup.snapshot_id},
                                {"cluster", r.cluster},
                                {"source_node", r.source_node},
                                {"file_name", r.backup.snapshot.file_name},
                                {"files", r.files},
                                {"size_bytes", r.backup.size_bytes},
                                {"stored_bytes", r.backup.stored_bytes},
                                {"duration_seconds", r.backup.duration_seconds},
                                {"nodes", nodes},
                                {"warnings", r.warnings}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << fmt::format(
      "stored the configuration of cluster {} ({} files, {}; /etc/pve read on {}) as snapshot {} "
      "in {}: {} new\n",
      r.cluster, r.files, human_bytes(r.backup.size_bytes), r.source_node,
      short_id(r.backup.snapshot_id), repo.location(), human_bytes(r.backup.stored_bytes));
  for (const auto& n : r.nodes) {
    std::cout << fmt::format("  node {}: {}\n", n.node,
                             n.collected ? fmt::format("{} files", n.files) : n.error);
  }
  for (const auto& w : r.warnings) std::cerr << "pvesafe: warning: " << w << "\n";
}

void add_cluster_config_restore_flags(CLI::App* cmd, ClusterConfigRestoreFlags& f) {
  auto* g = "Cluster configuration";
  cmd->add_flag("--cluster-config", f.requested,
                "The snapshot is a cluster configuration (backup --cluster-config): --to DIR "
                "writes its files into DIR, --diff compares it with the running cluster, --apply "
                "writes it there. Nothing is applied without --apply")
      ->group(g);
  cmd->add_option("--cluster", f.cluster,
                  "With latest --cluster-config: the newest snapshot of this cluster")
      ->group(g);
  cmd->add_flag("--diff", f.diff,
                "With --cluster-config: per file of /etc/pve what --apply would do, with a "
                "unified diff (secrets under priv/ are never shown)")
      ->group(g);
  cmd->add_flag("--apply", f.apply,
                "With --cluster-config: write the files the plan merges or replaces into the "
                "running cluster's /etc/pve (needs quorum); what they replace goes to --undo-dir "
                "first. Corosync, keys, certificates, guest configs and HA are never written")
      ->group(g);
  cmd->add_option("--only", f.only,
                  "With --apply: only these paths under /etc/pve (repeatable), e.g. "
                  "datacenter.cfg")
      ->group(g);
  cmd->add_option("--storage-map", f.storage_map,
                  "OLD=NEW, repeatable: storage OLD of the backup is NEW on the target, so the "
                  "storage.cfg merge does not add OLD")
      ->group(g);
  cmd->add_option("--undo-dir", f.undo_dir,
                  "With --apply: where the replaced files are kept (default "
                  "./pvesafe-undo-TIME, created 0700)")
      ->group(g);
}

void run_cluster_config_restore(ClusterConfigRestoreFlags& f, PveFlags& pve, SshFlags& ssh,
                                repo::Repository& repo, const std::string& snapshot,
                                const std::string& to, bool force, const GlobalOptions& g) {
  if (to.empty() && !f.diff && !f.apply) {
    throw Error(Errc::kUsage, "--cluster-config needs --to DIR, --diff or --apply",
                "e.g. pvesafe restore latest --cluster-config --to /root/pve-config, then --diff");
  }
  if (to == "-") {
    throw Error(Errc::kUsage, "--cluster-config writes a directory, not stdout", "give --to DIR");
  }
  auto snap = jobs::load_cluster_config(repo, snapshot, f.cluster);
  nlohmann::json out{{"snapshot_id", snap.snapshot_id}, {"cluster", snap.cluster()}};
  if (!to.empty()) {
    int n = jobs::extract_cluster_config(snap, to, force);
    out["to"] = to;
    out["files_written"] = n;
    if (!g.json) {
      std::cout << fmt::format(
          "wrote {} files of the configuration of cluster {} (snapshot {}) "
          "to {}\n",
          n, snap.cluster(), short_id(snap.snapshot_id), to);
    }
  }
  if (f.diff || f.apply) {
    jobs::ClusterConfigTarget target;
    target.api = pve_client_options(pve);
    target.ssh = ssh_targets(ssh);
    target.storage_map = parse_map(f.storage_map);
    target.only = f.only;
    auto plan = jobs::plan_cluster_config(snap, target);
    nlohmann::json files = nlohmann::json::array();
    for (const auto& c : plan.files) files.push_back(change_json(c));
    nlohmann::json node_files = nlohmann::json::array();
    for (const auto& c : plan.node_files) node_files.push_back(change_json(c));
    out["target_cluster"] = plan.target_cluster;
    out["target_node"] = plan.target_node;
    out["files"] = files;
    out["node_files"] = node_files;
    out["to_apply"] = plan.to_apply();
    if (!g.json) print_plan(plan, false);
    if (f.apply) {
      std::string undo = f.undo_dir;
      if (undo.empty()) {
        std::string t = format_utc(std::chrono::system_clock::now());
        for (auto& c : t)
          if (c == ':') c = '-';
        undo = "pvesafe-undo-" + t;
      }
      repo::CatalogEvent ev;
      ev.kind = "cluster-config-apply";
      ev.repository = repo.location();
      ev.snapshot_id = snap.snapshot_id;
      auto r = event_log(g).recorded(ev, [&](repo::CatalogEvent& e) {
        auto a = jobs::apply_cluster_config(plan, target, undo);
        e.node = plan.target_node;
        e.details_json = nlohmann::json{{"written", a.written},
                                        {"undo_dir", a.undo_dir},
                                        {"target_cluster", plan.target_cluster}}
                             .dump();
        return a;
      });
      out["written"] = r.written;
      out["undo_dir"] = r.undo_dir;
      if (!g.json) {
        std::cout << fmt::format(
            "applied {} file(s) to /etc/pve of cluster {}: {}; the replaced "
            "versions are in {}\n",
            r.written.size(), plan.target_cluster,
            r.written.empty() ? "-" : fmt::format("{}", fmt::join(r.written, ", ")), r.undo_dir);
      }
    }
  }
  if (g.json) std::cout << out.dump(2) << "\n";
}

}  // namespace pvesafe::cli
