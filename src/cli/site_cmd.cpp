#include "cli/site_cmd.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

#include "cli/repo_context.h"
#include "core/error.h"
#include "jobs/site_drill.h"
#include "jobs/site_restore.h"
#include "pve/drill.h"

namespace pvesafe::cli {

namespace {

using Clock = std::chrono::steady_clock;

// `with_common`: also --critical-tag and --health-timeout (drill has its own).
void add_selection_flags(CLI::App* cmd, SiteFlags& f, const char* group, bool with_common) {
  cmd->add_option("--guests", f.guests, "Only these guests (vmids, comma-separated or repeated)")
      ->delimiter(',')
      ->group(group);
  cmd->add_option("--pool", f.pool, "Only guests of this PVE pool (as backed up)")->group(group);
  cmd->add_option("--tag", f.tag, "Only guests carrying this PVE tag (as backed up)")->group(group);
  cmd->add_option("--source-node", f.source_node, "Only guests backed up on this node")
      ->group(group);
  cmd->add_option("--jobs", f.jobs, "Guests restored at once")->capture_default_str()->group(group);
  cmd->add_flag("--dry-run", f.dry_run, "Print the plan (order, nodes, vmids, storages) and stop")
      ->group(group);
  if (!with_common) return;
  cmd->add_option("--critical-tag", f.critical_tag,
                  "PVE tag of the guests restored first within their class")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--health-timeout", f.health_timeout_seconds,
                  "Seconds to wait for status running and the guest agent")
      ->capture_default_str()
      ->group(group);
}

// The live table: one line per guest, redrawn in place on stderr (a terminal only).
class LiveTable {
 public:
  LiveTable(const jobs::SitePlan& plan, bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    for (const auto& g : plan.guests) {
      if (!g.status.empty()) continue;
      order_.push_back(g.source_vmid);
      rows_[g.source_vmid] = Row{g.target.vmid, g.target.node, "waiting", 0, 0};
    }
    start_ = Clock::now();
    draw(true);
  }
  void update(const jobs::SiteProgress& p) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> l(mu_);
    auto& r = rows_[p.source_vmid];
    r.stage = p.guest.stage;
    r.done = p.guest.bytes_done;
    r.total = p.guest.bytes_total;
    auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200) && p.guest.stage == "transfer") return;
    last_ = now;
    draw(false);
  }
  void finish() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> l(mu_);
    draw(false);
  }

 private:
  struct Row {
    std::string vmid, node, stage;
    uint64_t done = 0, total = 0;
  };
  void draw(bool first) {
    if (!first) std::fprintf(stderr, "\x1b[%zuA", order_.size() + 1);
    double t = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr, "\x1b[2K%-6s %-6s %-10s %-10s %s   %s\n", "GUEST", "VMID", "NODE", "STAGE",
                 "PROGRESS", pve::format_seconds(t).c_str());
    for (const auto& id : order_) {
      const auto& r = rows_[id];
      std::string prog;
      if (r.stage == "transfer" && r.total) {
        prog = fmt::format("{:3.0f}% of {}",
                           100.0 * static_cast<double>(r.done) / static_cast<double>(r.total),
                           human_bytes(r.total));
      }
      std::fprintf(stderr, "\x1b[2K%-6s %-6s %-10s %-10s %s\n", id.c_str(), r.vmid.c_str(),
                   r.node.c_str(), r.stage.c_str(), prog.c_str());
    }
    std::fflush(stderr);
  }
  bool enabled_;
  std::mutex mu_;
  std::vector<std::string> order_;
  std::map<std::string, Row> rows_;
  Clock::time_point start_, last_;
};

jobs::SiteRestoreOptions site_options(SiteFlags& f, const SiteRunContext& c) {
  jobs::SiteRestoreOptions o;
  o.api = pve_client_options(*c.pve);
  o.ssh = ssh_targets(*c.ssh);
  o.select.guests = f.guests;
  o.select.pool = f.pool;
  o.select.tag = f.tag;
  o.select.node = f.source_node;
  o.select.cluster = c.cluster;
  o.jobs = f.jobs;
  o.storage_map = jobs::parse_name_map(c.storage_map, "--storage-map");
  o.node_map = jobs::parse_name_map(f.node_map, "--node-map");
  o.on_conflict = jobs::parse_vmid_conflict(f.on_conflict);
  o.dump_storage = c.dump_storage;
  o.start = !f.no_start;
  o.critical_tag = f.critical_tag;
  o.task_timeout = std::chrono::seconds(static_cast<int64_t>(c.task_timeout_seconds));
  o.health_timeout = std::chrono::seconds(static_cast<int64_t>(f.health_timeout_seconds));
  return o;
}

void print_plan(const jobs::SitePlan& p) {
  std::cout << fmt::format(
      "plan for cluster {} ({} guests to restore{})\n", p.target_cluster, p.to_restore(),
      p.config_snapshot.empty() ? "" : ", cluster configuration " + p.config_snapshot.substr(0, 8));
  std::cout << fmt::format("  {:<2} {:<6} {:>6} {:<5} {:<10} {:<22} {:<9} {}\n", "#", "GUEST",
                           "VMID", "TYPE", "NODE", "STORAGE", "SIZE", "NOTE");
  int i = 0;
  for (const auto& g : p.guests) {
    std::string storage = g.target.storage;
    for (const auto& [k, s] : g.target.move_disks) storage += fmt::format(" {}>{}", k, s);
    std::string note = g.status.empty() ? "" : g.status + ": ";
    if (g.priority_class == 0 && g.status.empty()) note += "HA ";
    if (g.critical) note += "critical ";
    note += g.reason;
    std::cout << fmt::format("  {:<2} {:<6} {:>6} {:<5} {:<10} {:<22} {:<9} {}\n",
                             g.status.empty() ? std::to_string(++i) : "-", g.source_vmid,
                             g.status.empty() ? g.target.vmid : "-", g.type, g.target.node, storage,
                             human_bytes(g.size_bytes), note);
  }
  for (const auto& n : p.notes) std::cout << "  note: " << n << "\n";
}

void print_guest_rows(const jobs::SiteRestoreResult& r) {
  std::cout << fmt::format("  {:<6} {:>6} {:<5} {:<10} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
                           "GUEST", "VMID", "TYPE", "NODE", "STATUS", "HEALTHY", "TRANSFER",
                           "CREATE", "BOOT", "HEALTH", "DETAIL");
  for (const auto& g : r.guests) {
    const auto& s = g.recovery.stages;
    bool ran = g.status == "ok" || g.status == "failed";
    std::string detail = g.status == "ok"          ? g.recovery.health_detail
                         : ran && g.recovery.error ? g.recovery.error->what()
                                                   : g.plan.reason;
    if (g.plan.priority_class == 0 && ran) detail = "HA; " + detail;
    std::cout << fmt::format("  {:<6} {:>6} {:<5} {:<10} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n",
                             g.plan.source_vmid, ran ? g.plan.target.vmid : "-", g.plan.type,
                             ran ? g.plan.target.node : "-", g.status,
                             ran && g.status == "ok" ? fixed(g.healthy_after_seconds, 1) : "-",
                             ran ? fixed(s.lookup + s.fetch + s.decrypt_verify, 1) : "-",
                             ran ? fixed(s.provision, 1) : "-", ran ? fixed(s.boot, 1) : "-",
                             ran ? fixed(s.health, 1) : "-", detail);
  }
}

// "2T", "500G", "64M", "4096" (bytes; binary units).
uint64_t parse_size_bytes(const std::string& s) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = s.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  static const std::map<std::string, double> units{{"", 1},
                                                   {"K", 1024.0},
                                                   {"M", 1024.0 * 1024},
                                                   {"G", 1024.0 * 1024 * 1024},
                                                   {"T", 1024.0 * 1024 * 1024 * 1024}};
  auto u = units.find(unit);
  if (used == 0 || v <= 0 || u == units.end()) {
    throw Error(Errc::kUsage, fmt::format("'{}' is not a size", s), "e.g. 2T, 500G, 64M");
  }
  return static_cast<uint64_t>(v * u->second);
}

void check_flags(const SiteFlags& f) {
  if (f.jobs < 1 || f.jobs > 64) throw Error(Errc::kUsage, "--jobs must be 1 to 64");
}

}  // namespace

std::string utc_stamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string write_drill_report(const GlobalOptions& g, const std::string& path,
                               const std::string& stem, const nlohmann::json& doc) {
  std::string out_path = path;
  if (out_path.empty()) {
    auto dir = std::filesystem::path(catalog_path(g)).parent_path() / "drills";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    ::chmod(dir.c_str(), 0700);
    out_path = (dir / fmt::format("drill-{}-{}.json", stem, utc_stamp())).string();
  }
  std::ofstream out(out_path, std::ios::trunc);
  out << doc.dump(2) << "\n";
  if (!out) spdlog::warn("could not write the drill report {}", out_path);
  return out_path;
}

void add_site_restore_flags(CLI::App* cmd, SiteFlags& f) {
  const char* g = "Whole site (restore latest --all)";
  cmd->add_flag("--all", f.requested,
                "Every guest's newest snapshot (narrowed by --guests, --pool, --tag, "
                "--source-node, --cluster) onto the cluster of --pve-host: HA guests first")
      ->group(g);
  add_selection_flags(cmd, f, g, true);
  cmd->add_option("--node-map", f.node_map,
                  "OLD=NEW: guests of node OLD go to NEW (default: the same name when online, "
                  "else the least loaded node)")
      ->group(g);
  cmd->add_option("--on-conflict", f.on_conflict,
                  "A vmid the target has already: fail (stop before anything is restored), skip, "
                  "new-id (next free id), replace (the existing stopped guest)")
      ->capture_default_str()
      ->group(g);
  cmd->add_flag("--no-start", f.no_start, "Create the guests but start none (HA ones included)")
      ->group(g);
}

void add_site_drill_flags(CLI::App* cmd, SiteFlags& f) {
  const char* g = "Site drill (drill --site)";
  cmd->add_flag("--site", f.requested,
                "Restore a set of guests at once as scratch copies (--guests, --tag, --pool, "
                "--source-node; default all), time the site RTO, remove them")
      ->group(g);
  add_selection_flags(cmd, f, g, false);
  cmd->add_option("--predict-size", f.predict_size,
                  "Extrapolate the site RTO to this much disk in all, e.g. 2T (default: the "
                  "guests' own disk sizes)")
      ->group(g);
}

void run_site_restore(SiteFlags& f, const SiteRunContext& c, repo::Repository& repo,
                      store::ReadTimingStore* timing, const GlobalOptions& g) {
  check_flags(f);
  auto o = site_options(f, c);
  o.dry_run = f.dry_run;
  std::unique_ptr<LiveTable> live;
  bool tty = !g.json && !g.quiet && !f.dry_run && ::isatty(2);
  o.planned = [&live, tty](const jobs::SitePlan& p) { live = std::make_unique<LiveTable>(p, tty); };
  o.progress = [&live](const jobs::SiteProgress& p) {
    if (live) live->update(p);
  };
  auto res = jobs::restore_site(repo, timing, o, event_log(g));
  if (live) live->finish();
  if (f.dry_run) {
    if (g.json) {
      std::cout << jobs::to_json(res.plan).dump(2) << "\n";
    } else {
      print_plan(res.plan);
    }
    return;
  }
  if (g.json) {
    std::cout << jobs::to_json(res).dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "site restore onto cluster {}: {} restored, {} failed, {} missing, {} skipped; {} at "
        "once; RTO {} (HA guests healthy after {}, plan {})\n",
        res.plan.target_cluster, res.count("ok"), res.count("failed"), res.count("missing"),
        res.count("skipped"), res.jobs, pve::format_seconds(res.rto_seconds),
        pve::format_seconds(res.critical_rto_seconds), pve::format_seconds(res.plan_seconds));
    print_guest_rows(res);
    for (const auto& n : res.ha_notes) std::cout << "  HA: " << n << "\n";
    for (const auto& n : res.plan.notes) std::cout << "  note: " << n << "\n";
  }
  if (auto e = res.first_error()) {
    std::cerr << "pvesafe: error: " << e->message() << "; " << res.count("failed") << " failed, "
              << res.count("missing") << " missing of " << res.guests.size() << " guests\n";
    set_exit_status(exit_code(e->code()));
  }
}

void run_site_drill(SiteFlags& f, const SiteRunContext& c, const SiteDrillSettings& s,
                    repo::Repository& repo, store::ReadTimingStore* timing,
                    const GlobalOptions& g) {
  check_flags(f);
  jobs::SiteDrillOptions o;
  o.site = site_options(f, c);
  o.site.node = s.node;
  o.site.storage = s.storage;
  o.sla_seconds = s.sla_seconds;
  o.link_bytes_per_second = s.link_bytes_per_second;
  o.open_seconds = s.open_seconds;
  if (!f.predict_size.empty()) o.predict_total_bytes = parse_size_bytes(f.predict_size);
  if (f.dry_run) {
    o.site.scratch = true;
    o.site.use_cluster_config = false;
    auto plan = jobs::plan_site_restore(repo, o.site);
    if (g.json) {
      std::cout << jobs::to_json(plan).dump(2) << "\n";
    } else {
      print_plan(plan);
    }
    return;
  }
  std::unique_ptr<LiveTable> live;
  bool tty = !g.json && !g.quiet && ::isatty(2);
  o.site.planned = [&live, tty](const jobs::SitePlan& p) {
    live = std::make_unique<LiveTable>(p, tty);
  };
  o.site.progress = [&live](const jobs::SiteProgress& p) {
    if (live) live->update(p);
  };
  auto r = jobs::drill_site(repo, timing, o, event_log(g));
  if (live) live->finish();

  nlohmann::json doc = jobs::to_json(r);
  doc["time_utc"] = utc_stamp();
  doc["repository"] = repo.location();
  const std::string path = write_drill_report(g, s.report, "site", doc);
  if (g.json) {
    doc["report"] = path;
    std::cout << doc.dump(2) << "\n";
  } else {
    auto totals = jobs::stage_totals(r.run);
    std::cout << fmt::format(
        "site drill on cluster {}: {} guests, {} at once, {} healthy, {} failed, {} missing\n",
        r.run.plan.target_cluster, r.run.guests.size(), r.run.jobs, r.run.count("ok"),
        r.run.count("failed"), r.run.count("missing"));
    print_guest_rows(r.run);
    std::cout << fmt::format("  {:<16} {:>10}  {}\n", "STAGE", "SECONDS", "(summed over guests)");
    for (const auto& [name, secs] : totals.sum.list()) {
      if (name == "cleanup") continue;
      std::cout << fmt::format("  {:<16} {:>10.3f}\n", name, secs);
    }
    std::cout << fmt::format("  {:<16} {:>10.3f}  (wall, scratch copies removed in {:.1f} s{})\n",
                             "cleanup", r.cleanup_seconds, r.cleanup_seconds,
                             r.not_removed.empty() ? "" : ", SOME LEFT BEHIND");
    std::cout << fmt::format("  {:<16} {:>10.3f}  SLA {} -> {}\n", "SITE RTO", r.rto_seconds,
                             pve::format_seconds(r.sla_seconds), r.passed ? "PASS" : "FAIL");
    const auto& p = r.prediction;
    std::cout << fmt::format(
        "  predicted site RTO for {} of disks{}, {} at once: {} (transfer {} + work {})\n",
        human_bytes(p.disk_bytes),
        p.link_bytes_per_second > 0
            ? fmt::format(" at {:.0f} Mbit/s", p.link_bytes_per_second * 8 / 1e6)
            : " at the measured fetch rate",
        p.jobs, pve::format_seconds(p.rto), pve::format_seconds(p.transfer),
        pve::format_seconds(p.work));
    std::cout << "report: " << path << "\n";
  }
  if (auto e = r.run.first_error()) {
    set_exit_status(exit_code(e->code()));
    std::cerr << "pvesafe: error: site drill: " << e->message() << "\n";
    return;
  }
  if (!r.not_removed.empty()) {
    std::string ids;
    for (const auto& v : r.not_removed) ids += (ids.empty() ? "" : ", ") + v;
    set_exit_status(exit_code(Errc::kRemote));
    std::cerr << "pvesafe: error: scratch guests " << ids << " could not be removed; remove them "
              << "by hand\n";
    return;
  }
  if (!r.passed) {
    set_exit_status(exit_code(Errc::kCheckFailed));
    std::cerr << "pvesafe: error: site RTO " << pve::format_seconds(r.rto_seconds)
              << " exceeds the SLA " << pve::format_seconds(r.sla_seconds) << "\n";
  }
}

}  // namespace pvesafe::cli
