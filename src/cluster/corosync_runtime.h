// Runtime state of the local corosync 3 daemon, read through its client libraries:
//   libvotequorum  quorate flag, expected/total votes, quorum, per-node membership state
//   libcmap        cluster name, node list (nodeid -> name), local node id, knet statistics
//   libcfg         per peer and link: configured (enabled) and connected, from the local view
// The libraries talk to corosync over libqb IPC (abstract sockets, so per network namespace).
// read_corosync_runtime() throws pvesafe::Error(kTransient) when corosync is not running or
// does not answer, naming the library call that failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pvesafe::cluster {

struct CorosyncLink {
  int link = 0;            // knet link number (linkN in corosync.conf)
  bool connected = false;  // local view: traffic flows to the peer over this link
  double latency_seconds = -1;  // average round trip from stats, -1 if unknown
  double down_count = -1;       // times the link went down since corosync started, -1 if unknown
};

struct CorosyncNode {
  uint32_t nodeid = 0;
  std::string name;
  bool local = false;
  bool member = false;      // in the current membership (votequorum node state MEMBER)
  bool reachable = false;   // libcfg: reachable over at least one link
  uint32_t votes = 0;
  std::vector<CorosyncLink> links;  // configured links; empty for the local node
};

struct CorosyncRuntime {
  std::string cluster_name;
  uint32_t local_nodeid = 0;
  bool quorate = false;
  uint32_t expected_votes = 0;
  uint32_t total_votes = 0;
  uint32_t quorum = 0;
  uint32_t members = 0;
  std::vector<CorosyncNode> nodes;
};

// True when pvesafe was built with corosync's client libraries.
bool corosync_support_built();

CorosyncRuntime read_corosync_runtime();

}  // namespace pvesafe::cluster
