// corosync.conf: parser and typed view.
//
// The file is a tree of sections ("name {" ... "}") holding "key: value" lines; '#' starts a
// comment line. parse_corosync_conf() keeps the raw tree (sections and keys in file order, with
// line numbers) and CorosyncConf::from_tree() reads the parts that matter for a Proxmox VE
// cluster: totem (cluster name, config_version, transport, token timings, links), nodelist and
// quorum (votequorum options and an optional QDevice).
//
// Errors (unbalanced braces, a line that is neither a key nor a section) throw
// pvesafe::Error(kConfig) naming the file and line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pvesafe::cluster {

struct ConfSection {
  std::string name;  // "" for the top level
  int line = 0;      // line of the opening brace
  std::vector<std::pair<std::string, std::string>> keys;  // in file order
  std::vector<ConfSection> sections;

  // Last value of `key` in this section (corosync uses the last one), or nullopt.
  std::optional<std::string> get(const std::string& key) const;
  std::vector<const ConfSection*> children(const std::string& name) const;
  const ConfSection* child(const std::string& name) const;  // first, or nullptr
};

// `source` names the file in error messages.
ConfSection parse_corosync_conf(const std::string& text, const std::string& source);

struct CorosyncConfNode {
  std::string name;
  std::optional<uint32_t> nodeid;
  int quorum_votes = 1;
  std::map<int, std::string> links;  // link number -> address (ringN_addr / linkN_addr)
  int line = 0;
};

struct CorosyncConfInterface {
  int linknumber = 0;
  std::optional<int> knet_link_priority;
};

struct CorosyncConf {
  std::string source;  // file name (for findings)
  std::string cluster_name;
  std::optional<uint64_t> config_version;
  std::string transport = "knet";  // knet (default), udp, udpu
  std::string secauth;             // raw value, "" when absent
  std::string crypto_cipher;
  std::string link_mode;
  std::optional<uint32_t> token;              // ms
  std::optional<uint32_t> token_coefficient;  // ms
  std::optional<uint32_t> consensus;          // ms
  std::vector<CorosyncConfInterface> interfaces;
  std::vector<CorosyncConfNode> nodes;

  std::string quorum_provider;
  bool two_node = false;
  std::optional<bool> wait_for_all;  // explicit setting; two_node implies 1 by default
  bool last_man_standing = false;
  bool auto_tie_breaker = false;
  std::optional<int> expected_votes;
  bool has_qdevice = false;  // quorum { device { model: net ... } }
  std::string qdevice_model;

  static CorosyncConf from_tree(const ConfSection& root, const std::string& source);
  static CorosyncConf parse(const std::string& text, const std::string& source);
  static CorosyncConf load(const std::string& path);  // throws kIo when unreadable

  // Token timeout corosync actually uses: token + (nodes - 2) * token_coefficient for 3+ nodes
  // (defaults 1000 and 650 ms as in corosync 3).
  uint32_t effective_token_ms() const;
  int total_votes() const;
};

}  // namespace pvesafe::cluster
