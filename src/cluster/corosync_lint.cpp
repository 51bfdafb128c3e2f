#include "cluster/corosync_lint.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace pvesafe::cluster {

namespace {

Finding make(Severity sev, const std::string& check, const CorosyncConf& c, std::string message,
             std::string remedy, const std::string& node = {}) {
  Finding f;
  f.severity = sev;
  f.check = check;
  f.subject = node.empty() ? c.source : c.source + " (node " + node + ")";
  f.node = node;
  f.message = std::move(message);
  f.remedy = std::move(remedy);
  return f;
}

bool parse_ip(const std::string& s, unsigned char out[16], int* family) {
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

bool address_in_network(const std::string& address, const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string net = cidr.substr(0, slash);
  unsigned char a[16] = {}, n[16] = {};
  int fa = 0, fn = 0;
  if (!parse_ip(address, a, &fa) || !parse_ip(net, n, &fn) || fa != fn) return false;
  int bits_total = fa == AF_INET ? 32 : 128;
  int prefix = bits_total;
  if (slash != std::string::npos) {
    try {
      prefix = std::stoi(cidr.substr(slash + 1));
    } catch (...) {
      return false;
    }
  }
  if (prefix < 0 || prefix > bits_total) return false;
  for (int i = 0; i < prefix; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((a[byte] >> bit) & 1) != ((n[byte] >> bit) & 1)) return false;
  }
  return true;
}

std::vector<Finding> lint_corosync(const CorosyncConf& c, const CorosyncLintOptions& o) {
  std::vector<Finding> out;
  const size_t n = c.nodes.size();

  if (n == 0) {
    out.push_back(make(Severity::kCritical, "corosync.nodes", c, "nodelist has no nodes",
                       "restore the nodelist section (pvecm status shows the members)"));
    return out;
  }

  // Links: the set of link numbers configured on every node.
  std::set<int> links_all;
  for (const auto& node : c.nodes)
    for (const auto& [num, addr] : node.links) links_all.insert(num);
  for (const auto& node : c.nodes) {
    for (int l : links_all) {
      if (!node.links.count(l)) {
        out.push_back(make(Severity::kCritical, "corosync.nodes", c,
                           "node " + node.name + " has no address for link " + std::to_string(l) +
                               " that other nodes use",
                           "give every node an address on every link (ring" + std::to_string(l) +
                               "_addr)",
                           node.name));
      }
    }
  }
  if (links_all.size() <= 1 && c.transport != "udp" && c.transport != "udpu") {
    out.push_back(make(Severity::kWarning, "corosync.links", c,
                       "only one corosync link (link " +
                           std::to_string(links_all.empty() ? 0 : *links_all.begin()) +
                           "): a single switch or NIC failure drops the node out of the cluster "
                           "and fences it",
                       "add a second link on a separate network (ring1_addr on every node plus an "
                       "interface { linknumber: 1 } in totem)"));
  } else if (c.transport == "udp" || c.transport == "udpu") {
    out.push_back(make(Severity::kWarning, "corosync.links", c,
                       "transport " + c.transport + " supports one link only and is deprecated",
                       "switch to transport knet with two links"));
  }

  // Cluster traffic sharing a network with guests: latency spikes there break the token.
  for (const auto& node : c.nodes) {
    for (const auto& [num, addr] : node.links) {
      for (const auto& net : o.data_networks) {
        if (address_in_network(addr, net)) {
          out.push_back(make(Severity::kWarning, "corosync.data-network", c,
                             "link " + std::to_string(num) + " address " + addr + " of node " +
                                 node.name + " is inside the guest/data network " + net,
                             "put corosync link " + std::to_string(num) +
                                 " on a dedicated network; guest and backup traffic delay the "
                                 "token and cause fencing",
                             node.name));
        }
      }
    }
  }

  // Duplicates.
  std::map<uint32_t, std::vector<std::string>> by_id;
  std::map<std::string, std::vector<std::string>> by_name, by_addr;
  for (const auto& node : c.nodes) {
    if (!node.nodeid) {
      out.push_back(make(Severity::kCritical, "corosync.nodes", c,
                         "node " + node.name + " has no nodeid (required by knet)",
                         "add a unique nodeid to the node entry", node.name));
    } else {
      by_id[*node.nodeid].push_back(node.name);
    }
    by_name[node.name].push_back(node.name);
    for (const auto& [num, addr] : node.links) by_addr[addr].push_back(node.name);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  for (const auto& [id, names] : by_id)
    if (names.size() > 1)
      out.push_back(make(Severity::kCritical, "corosync.nodes", c,
                         "nodeid " + std::to_string(id) + " is used by " + join(names),
                         "give each node a unique nodeid", names.front()));
  for (const auto& [name, names] : by_name)
    if (names.size() > 1)
      out.push_back(make(Severity::kCritical, "corosync.nodes", c,
                         "node name " + name + " appears " + std::to_string(names.size()) + " times",
                         "remove the duplicate node entry", name));
  for (const auto& [addr, names] : by_addr)
    if (names.size() > 1)
      out.push_back(make(Severity::kCritical, "corosync.nodes", c,
                         "address " + addr + " is used by " + join(names) +
                             " (two links on one address, or two nodes sharing it)",
                         "give every node and link its own address", names.front()));

  // Quorum.
  if (!c.quorum_provider.empty() && c.quorum_provider != "corosync_votequorum") {
    out.push_back(make(Severity::kCritical, "corosync.quorum", c,
                       "quorum provider is '" + c.quorum_provider + "'",
                       "set quorum { provider: corosync_votequorum } as Proxmox VE requires"));
  } else if (c.quorum_provider.empty()) {
    out.push_back(make(Severity::kCritical, "corosync.quorum", c, "no quorum provider configured",
                       "set quorum { provider: corosync_votequorum }"));
  }
  int votes = c.total_votes();
  for (const auto& node : c.nodes) {
    if (node.quorum_votes != 1) {
      out.push_back(make(Severity::kWarning, "corosync.votes", c,
                         "node " + node.name + " has quorum_votes " +
                             std::to_string(node.quorum_votes),
                         "keep one vote per node; add a QDevice instead of extra votes", node.name));
    }
  }
  if (c.two_node) {
    if (n != 2) {
      out.push_back(make(Severity::kCritical, "corosync.two-node", c,
                         "two_node: 1 with " + std::to_string(n) + " nodes",
                         "remove two_node; it is only valid for exactly two nodes"));
    }
    if (c.has_qdevice) {
      out.push_back(make(Severity::kCritical, "corosync.two-node", c,
                         "two_node: 1 together with a QDevice",
                         "remove two_node: the QDevice provides the third vote"));
    }
    if (c.wait_for_all && !*c.wait_for_all) {
      out.push_back(make(Severity::kCritical, "corosync.two-node", c,
                         "two_node: 1 with wait_for_all: 0: after a partition both nodes can "
                         "start alone as quorate (split-brain)",
                         "remove wait_for_all: 0 (two_node enables it by default)"));
    }
    if (o.ha_enabled && n == 2 && !c.has_qdevice) {
      out.push_back(make(Severity::kWarning, "corosync.two-node", c,
                         "two_node cluster with HA: on a link failure both nodes race to fence "
                         "each other",
                         "add a QDevice (pvecm qdevice setup) and drop two_node"));
    }
  } else if (votes % 2 == 0 && !c.has_qdevice) {
    out.push_back(make(n == 2 ? Severity::kCritical : Severity::kWarning, "corosync.votes", c,
                       std::to_string(n) + " nodes with " + std::to_string(votes) +
                           " votes and no QDevice: a " + std::to_string(votes / 2) + "/" +
                           std::to_string(votes / 2) +
                           " split leaves no partition quorate and HA stops everywhere",
                       "add a QDevice (pvecm qdevice setup HOST) or an odd number of nodes"));
  }
  if (c.last_man_standing && !(c.wait_for_all && *c.wait_for_all)) {
    out.push_back(make(Severity::kWarning, "corosync.quorum", c,
                       "last_man_standing without wait_for_all: 1",
                       "set wait_for_all: 1 so a cold-started partial cluster cannot become "
                       "quorate on its own"));
  }
  if (c.expected_votes && *c.expected_votes != votes) {
    out.push_back(make(Severity::kWarning, "corosync.votes", c,
                       "expected_votes " + std::to_string(*c.expected_votes) +
                           " differs from the nodelist's " + std::to_string(votes) + " votes",
                       "remove expected_votes; votequorum computes it from the nodelist"));
  }

  // Token timings.
  if (c.token && *c.token < 1000) {
    out.push_back(make(Severity::kWarning, "corosync.token", c,
                       "token " + std::to_string(*c.token) +
                           " ms: short hiccups will be taken as node failures and trigger fencing",
                       "leave token at the default (1000 ms plus token_coefficient per node) or "
                       "raise it"));
  }
  if (c.effective_token_ms() > 10000) {
    out.push_back(make(Severity::kWarning, "corosync.token", c,
                       "effective token timeout " + std::to_string(c.effective_token_ms()) +
                           " ms: failed nodes are noticed and fenced late",
                       "lower token/token_coefficient unless the network really needs it"));
  }
  if (c.consensus && *c.consensus < c.effective_token_ms() * 12 / 10) {
    out.push_back(make(Severity::kCritical, "corosync.token", c,
                       "consensus " + std::to_string(*c.consensus) +
                           " ms is below 1.2 x the token timeout (" +
                           std::to_string(c.effective_token_ms() * 12 / 10) + " ms)",
                       "remove consensus (corosync derives it) or set it >= 1.2 x token"));
  }

  // Crypto.
  auto off = [](const std::string& v) { return v == "off" || v == "0" || v == "no"; };
  if (off(c.secauth) || c.crypto_cipher == "none") {
    out.push_back(make(Severity::kWarning, "corosync.crypto", c,
                       "cluster traffic is not authenticated/encrypted (secauth off or "
                       "crypto_cipher none)",
                       "set secauth: on (PVE default) and keep /etc/corosync/authkey"));
  }
  if (!c.config_version) {
    out.push_back(make(Severity::kWarning, "corosync.config-version", c,
                       "totem has no config_version",
                       "add config_version and increase it on every edit"));
  }
  return out;
}

std::vector<Finding> lint_config_versions(const std::vector<CorosyncConf>& copies) {
  std::vector<Finding> out;
  if (copies.size() < 2) return out;
  uint64_t newest = 0;
  for (const auto& c : copies) newest = std::max(newest, c.config_version.value_or(0));
  std::map<uint64_t, int> count;
  for (const auto& c : copies) count[c.config_version.value_or(0)]++;
  if (count.size() > 1) {
    std::string seen;
    for (const auto& c : copies) {
      seen += (seen.empty() ? "" : ", ") + c.source + "=" +
              (c.config_version ? std::to_string(*c.config_version) : std::string("none"));
    }
    for (const auto& c : copies) {
      if (c.config_version.value_or(0) == newest) continue;
      Finding f;
      f.severity = Severity::kCritical;
      f.check = "corosync.config-version";
      f.subject = c.source;
      f.message = "config_version " +
                  (c.config_version ? std::to_string(*c.config_version) : std::string("none")) +
                  " is older than " + std::to_string(newest) + " (" + seen + ")";
      f.remedy =
          "the node with the old copy missed a change: copy the newest corosync.conf to "
          "/etc/corosync/corosync.conf on that node and restart corosync there";
      out.push_back(std::move(f));
    }
  }
  std::set<std::string> names;
  for (const auto& c : copies) names.insert(c.cluster_name);
  if (names.size() > 1) {
    for (const auto& c : copies) {
      Finding f;
      f.severity = Severity::kCritical;
      f.check = "corosync.config-version";
      f.subject = c.source;
      f.message = "cluster_name '" + c.cluster_name + "' differs between the copies";
      f.remedy = "all nodes must carry the same cluster_name";
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace pvesafe::cluster
