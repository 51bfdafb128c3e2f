#include "cluster/corosync_runtime.h"

#include <map>

#include "core/error.h"

#if __has_include(<corosync/cmap.h>) && __has_include(<corosync/votequorum.h>) && \
    __has_include(<corosync/cfg.h>)
#define PVESAFE_HAVE_COROSYNC 1
#include <corosync/cfg.h>
#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <corosync/votequorum.h>

#include <cstdlib>
#include <cstring>
#endif

namespace pvesafe::cluster {

#ifndef PVESAFE_HAVE_COROSYNC

bool corosync_support_built() { return false; }

CorosyncRuntime read_corosync_runtime() {
  throw pvesafe::Error(Errc::kUnsupported, "corosync: pvesafe was built without libcmap/libcfg",
                       "install libcmap-dev libcfg-dev libvotequorum-dev and rebuild");
}

#else

bool corosync_support_built() { return true; }

namespace {

[[noreturn]] void fail(const char* call, cs_error_t err) {
  throw pvesafe::Error(Errc::kTransient,
                       std::string("corosync: ") + call + " failed (cs_error " +
                           std::to_string(static_cast<int>(err)) + ")",
                       "check that corosync is running on this node: systemctl status corosync");
}

class Cmap {
 public:
  explicit Cmap(cmap_map_t map) {
    cs_error_t e = cmap_initialize_map(&h_, map);
    if (e != CS_OK) fail("cmap_initialize", e);
  }
  ~Cmap() { cmap_finalize(h_); }
  Cmap(const Cmap&) = delete;
  Cmap& operator=(const Cmap&) = delete;

  bool get_string(const std::string& key, std::string& out) {
    char* s = nullptr;
    if (cmap_get_string(h_, key.c_str(), &s) != CS_OK || s == nullptr) return false;
    out = s;
    free(s);
    return true;
  }
  bool get_number(const std::string& key, double& out) {
    union {
      uint64_t u64;
      int64_t i64;
      uint32_t u32;
      int32_t i32;
      uint16_t u16;
      int16_t i16;
      uint8_t u8;
      int8_t i8;
      float f;
      double d;
      char raw[16];
    } v;
    std::memset(&v, 0, sizeof v);
    size_t len = sizeof v;
    cmap_value_types_t type;
    if (cmap_get(h_, key.c_str(), &v, &len, &type) != CS_OK) return false;
    switch (type) {
      case CMAP_VALUETYPE_INT8: out = v.i8; return true;
      case CMAP_VALUETYPE_UINT8: out = v.u8; return true;
      case CMAP_VALUETYPE_INT16: out = v.i16; return true;
      case CMAP_VALUETYPE_UINT16: out = v.u16; return true;
      case CMAP_VALUETYPE_INT32: out = v.i32; return true;
      case CMAP_VALUETYPE_UINT32: out = v.u32; return true;
      case CMAP_VALUETYPE_INT64: out = static_cast<double>(v.i64); return true;
      case CMAP_VALUETYPE_UINT64: out = static_cast<double>(v.u64); return true;
      case CMAP_VALUETYPE_FLOAT: out = v.f; return true;
      case CMAP_VALUETYPE_DOUBLE: out = v.d; return true;
      default: return false;
    }
  }
  // Keys under a prefix.
  std::vector<std::string> keys(const std::string& prefix) {
    std::vector<std::string> out;
    cmap_iter_handle_t it;
    if (cmap_iter_init(h_, prefix.c_str(), &it) != CS_OK) return out;
    char name[CMAP_KEYNAME_MAXLEN + 1];
    size_t len;
    cmap_value_types_t type;
    while (cmap_iter_next(h_, it, name, &len, &type) == CS_OK) out.emplace_back(name);
    cmap_iter_finalize(h_, it);
    return out;
  }

 private:
  cmap_handle_t h_ = 0;
};

class Votequorum {
 public:
  Votequorum() {
    cs_error_t e = votequorum_initialize(&h_, nullptr);
    if (e != CS_OK) fail("votequorum_initialize", e);
  }
  ~Votequorum() { votequorum_finalize(h_); }
  Votequorum(const Votequorum&) = delete;
  Votequorum& operator=(const Votequorum&) = delete;
  votequorum_handle_t get() const { return h_; }

 private:
  votequorum_handle_t h_ = 0;
};

class Cfg {
 public:
  Cfg() {
    cs_error_t e = corosync_cfg_initialize(&h_, nullptr);
    if (e != CS_OK) fail("corosync_cfg_initialize", e);
  }
  ~Cfg() { corosync_cfg_finalize(h_); }
  Cfg(const Cfg&) = delete;
  Cfg& operator=(const Cfg&) = delete;
  corosync_cfg_handle_t get() const { return h_; }

 private:
  corosync_cfg_handle_t h_ = 0;
};

}  // namespace

CorosyncRuntime read_corosync_runtime() {
  CorosyncRuntime rt;
  Cmap cmap(CMAP_MAP_ICMAP);
  cmap.get_string("totem.cluster_name", rt.cluster_name);
  double local = 0;
  if (!cmap.get_number("runtime.votequorum.this_node_id", local)) local = 0;

  // Node list from the configuration: nodelist.node.<pos>.nodeid / .name / .ring0_addr
  std::map<int, CorosyncNode> by_pos;
  for (const auto& key : cmap.keys("nodelist.node.")) {
    // nodelist.node.0.nodeid
    const std::string pre = "nodelist.node.";
    auto dot = key.find('.', pre.size());
    if (dot == std::string::npos) continue;
    int pos = std::atoi(key.substr(pre.size(), dot - pre.size()).c_str());
    std::string field = key.substr(dot + 1);
    CorosyncNode& n = by_pos[pos];
    if (field == "nodeid") {
      double id = 0;
      if (cmap.get_number(key, id)) n.nodeid = static_cast<uint32_t>(id);
    } else if (field == "name") {
      cmap.get_string(key, n.name);
    } else if (field == "ring0_addr" && n.name.empty()) {
      cmap.get_string(key, n.name);
    } else if (field.size() == 10 && field.rfind("ring", 0) == 0 &&
               field.compare(5, 5, "_addr") == 0) {
      int link = field[4] - '0';
      n.links.push_back(CorosyncLink{link});
    }
  }

  Cfg cfg;
  unsigned int local_id = 0;
  cs_error_t le = corosync_cfg_local_get(cfg.get(), &local_id);
  if (le != CS_OK) fail("corosync_cfg_local_get", le);
  if (local == 0) local = local_id;
  rt.local_nodeid = static_cast<uint32_t>(local);

  Votequorum vq;
  votequorum_info info{};
  cs_error_t e = votequorum_getinfo(vq.get(), rt.local_nodeid, &info);
  if (e != CS_OK) fail("votequorum_getinfo", e);
  rt.quorate = (info.flags & VOTEQUORUM_INFO_QUORATE) != 0;
  rt.expected_votes = info.node_expected_votes;
  rt.total_votes = info.total_votes;
  rt.quorum = info.quorum;

  Cmap stats(CMAP_MAP_STATS);
  for (auto& [pos, n] : by_pos) {
    if (n.nodeid == 0) continue;
    n.local = n.nodeid == rt.local_nodeid;
    votequorum_info ni{};
    if (votequorum_getinfo(vq.get(), n.nodeid, &ni) == CS_OK) {
      n.member = ni.node_state == VOTEQUORUM_NODESTATE_MEMBER;
      n.votes = ni.node_votes;
    }
    if (n.member) ++rt.members;
    if (n.local) {
      n.links.clear();
      rt.nodes.push_back(n);
      continue;
    }
    corosync_cfg_node_status_v1 st{};
    cs_error_t ce = corosync_cfg_node_status_get(cfg.get(), n.nodeid, CFG_NODE_STATUS_V1, &st);
    std::vector<CorosyncLink> links;
    if (ce == CS_OK) {
      n.reachable = st.reachable != 0;
      for (int l = 0; l < CFG_MAX_LINKS; ++l) {
        if (!st.link_status[l].enabled) continue;
        CorosyncLink link{l};
        link.connected = st.link_status[l].connected != 0;
        links.push_back(link);
      }
    } else {
      for (auto link : n.links) {  // unknown: report configured links as not connected
        link.connected = false;
        links.push_back(link);
      }
    }
    for (auto& link : links) {
      std::string base =
          "stats.knet.node" + std::to_string(n.nodeid) + ".link" + std::to_string(link.link) + ".";
      double v;
      if (stats.get_number(base + "latency_ave", v)) link.latency_seconds = v / 1e6;  // microseconds
      if (stats.get_number(base + "down_count", v)) link.down_count = v;
    }
    n.links = std::move(links);
    rt.nodes.push_back(n);
  }
  return rt;
}

#endif

}  // namespace pvesafe::cluster
