// Node endpoints: /nodes, /nodes/{node}/{status,version,services,apt/versions,apt/update,
// certificates/info}.
#include <ctime>

#include "router.h"
#include "views.h"

namespace pvesim {

namespace {

std::string kernel_release(const Node& n) {
  for (const auto& [pkg, ver] : n.packages)
    if (starts_with(pkg, "proxmox-kernel-") && pkg != "proxmox-kernel-helper") return ver + "-pve";
  return "6.8.12-13-pve";
}

std::string manager_version(const Node& n) {
  auto it = n.packages.find("pve-manager");
  return it == n.packages.end() ? "0" : it->second;
}

std::string iso_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

void register_node_routes(Router& r) {
  r.add("GET", "/nodes", [](Ctx& c) {
    json out = json::array();
    UsageIndex idx = build_usage_index(c.sim);
    for (auto& n : c.sim.c.nodes) {
      json j = node_resource(c.sim, n, &idx);
      j["ssl_fingerprint"] = n.ssl_fingerprint;
      j.erase("cgroup-mode");
      out.push_back(j);
    }
    return out;
  });

  r.add("GET", "/nodes/{node}", [](Ctx&) {
    json out = json::array();
    for (const char* s : {"apt", "ceph", "certificates", "lxc", "qemu", "services", "status",
                          "storage", "tasks", "version", "vzdump"})
      out.push_back({{"name", s}});
    return out;
  });

  r.add("GET", "/nodes/{node}/status", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    Usage u = node_usage(c.sim, n);
    std::string krel = kernel_release(n);
    json j{{"uptime", u.uptime},
           {"cpu", u.cpu},
           {"wait", 0.0012},
           {"idle", 0},
           {"loadavg", json::array({"0.42", "0.37", "0.30"})},
           {"kversion", "Linux " + krel + " #1 SMP PREEMPT_DYNAMIC PMX " +
                            krel.substr(0, krel.size() - 4) + " (2025-08-01T10:00Z)"},
           {"pveversion",
            "pve-manager/" + manager_version(n) + "/" +
                std::string(c.sim.pve_major() >= 9 ? "3e76eec21c4a14a7" : "2a55feb8b15ae19d")},
           {"cpuinfo",
            {{"model", "AMD EPYC 7313P 16-Core Processor"},
             {"sockets", 1},
             {"cores", n.cpus / 2},
             {"cpus", n.cpus},
             {"mhz", "3000.000"},
             {"hvm", "1"},
             {"user_hz", 100},
             {"flags",
              "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
              "fxsr sse sse2 ht syscall nx lm constant_tsc rep_good nopl cpuid pni pclmulqdq ssse3 "
              "fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm svm"}}},
           {"memory",
            {{"total", n.maxmem},
             {"used", u.mem},
             {"free", n.maxmem - u.mem},
             {"available", n.maxmem - u.mem}}},
           {"swap", {{"total", 8ull << 30}, {"used", 0}, {"free", 8ull << 30}}},
           {"rootfs",
            {{"total", n.maxdisk},
             {"used", u.disk},
             {"free", n.maxdisk - u.disk},
             {"avail", n.maxdisk - u.disk}}},
           {"ksm", {{"shared", 0}}},
           {"current-kernel",
            {{"sysname", "Linux"},
             {"release", krel},
             {"machine", "x86_64"},
             {"version", "#1 SMP PREEMPT_DYNAMIC PMX " + krel.substr(0, krel.size() - 4) +
                             " (2025-08-01T10:00Z)"}}},
           {"boot-info", {{"mode", "efi"}, {"secureboot", 0}}}};
    return j;
  });

  r.add("GET", "/nodes/{node}/version", [](Ctx& c) {
    Node& n = c.node();
    std::string v = manager_version(n);
    return json{{"version", v},
                {"release", v.substr(0, v.rfind('.'))},
                {"repoid", c.sim.pve_major() >= 9 ? "3e76eec21c4a14a7" : "2a55feb8b15ae19d"}};
  });

  r.add("GET", "/nodes/{node}/services", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    json out = json::array();
    for (auto& s : n.services) {
      std::string state =
          s.state == "running" ? "running" : (s.state == "failed" ? "failed" : "dead");
      std::string active =
          s.state == "running" ? "active" : (s.state == "failed" ? "failed" : "inactive");
      out.push_back({{"service", s.name},
                     {"name", s.name},
                     {"desc", s.desc},
                     {"state", state},
                     {"active-state", active},
                     {"unit-state", s.unit_state}});
    }
    return out;
  });
  r.add("GET", "/nodes/{node}/services/{service}/state", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    for (auto& s : n.services)
      if (s.name == c.var("service"))
        return json{{"service", s.name},
                    {"name", s.name},
                    {"desc", s.desc},
                    {"state", s.state == "running" ? "running" : "dead"},
                    {"active-state", s.state == "running" ? "active" : "inactive"},
                    {"unit-state", s.unit_state}};
    param_error("service",
                "value '" + c.var("service") + "' does not have a value in the enumeration");
  });

  r.add("GET", "/nodes/{node}/apt/versions", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    json out = json::array();
    std::string krel = kernel_release(n);
    auto add = [&](const std::string& pkg, const std::string& ver) {
      json j{{"Package", pkg},
             {"Title", pkg},
             {"Description", pkg},
             {"Version", ver},
             {"OldVersion", ver},
             {"CurrentState", "Installed"},
             {"Arch", pkg == "pve-manager" ? "all" : "amd64"},
             {"Section", "admin"},
             {"Priority", "optional"},
             {"Origin", "Proxmox"}};
      if (pkg == "proxmox-ve") j["RunningKernel"] = krel;
      if (pkg == "pve-manager") j["ManagerVersion"] = ver;
      out.push_back(j);
    };
    for (const char* first : {"proxmox-ve", "pve-manager"})
      if (n.packages.count(first)) add(first, n.packages.at(first));
    for (const auto& [pkg, ver] : n.packages)
      if (pkg != "proxmox-ve" && pkg != "pve-manager") add(pkg, ver);
    return out;
  });
  r.add("GET", "/nodes/{node}/apt/update", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Modify");
    return json::array();
  });

  r.add("GET", "/nodes/{node}/certificates/info", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    int64_t now = c.sim.now();
    json ca{{"filename", "pve-root-ca.pem"},
            {"fingerprint", n.ssl_fingerprint},
            {"issuer",
             "/CN=Proxmox Virtual Environment/OU=" + random_hex(16) + "/O=PVE Cluster Manager CA"},
            {"subject", "/CN=Proxmox Virtual Environment/OU=pvesim/O=PVE Cluster Manager CA"},
            {"notbefore", now - 86400 * 400},
            {"notafter", now + 86400LL * 3250},
            {"public-key-type", "rsaEncryption"},
            {"public-key-bits", 4096}};
    json leaf{{"filename", "pve-ssl.pem"},
              {"fingerprint", n.ssl_fingerprint},
              {"issuer", "/CN=Proxmox Virtual Environment/OU=pvesim/O=PVE Cluster Manager CA"},
              {"subject",
               "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=" + n.name + ".pvesim.lan"},
              {"notbefore", n.cert_notafter - 86400LL * 730},
              {"notafter", n.cert_notafter},
              {"public-key-type", "rsaEncryption"},
              {"public-key-bits", 2048},
              {"san", json::array({"127.0.0.1", "0000:0000:0000:0000:0000:0000:0000:0001",
                                   "localhost", n.ip, n.name, n.name + ".pvesim.lan"})}};
    (void)iso_time;
    return json::array({ca, leaf});
  });
}

}  // namespace pvesim
