#include "cluster/corosync_conf.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace pvesafe::cluster {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

template <typename T>
std::optional<T> to_number(const std::string& s) {
  T v{};
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool to_bool(const std::string& s) {
  std::string v = s;
  std::transform(v.begin(), v.end(), v.begin(), ::tolower);
  return v == "1" || v == "yes" || v == "on" || v == "true";
}

template <typename T>
std::optional<T> number_key(const ConfSection& s, const std::string& key, const std::string& source) {
  auto v = s.get(key);
  if (!v) return std::nullopt;
  auto n = to_number<T>(*v);
  if (!n) {
    throw Error(Errc::kConfig, source + ": " + s.name + "." + key + " is not a number: '" + *v + "'",
                "fix the value in corosync.conf");
  }
  return n;
}

}  // namespace

std::optional<std::string> ConfSection::get(const std::string& key) const {
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return std::nullopt;
}

std::vector<const ConfSection*> ConfSection::children(const std::string& n) const {
  std::vector<const ConfSection*> out;
  for (const auto& s : sections) {
    if (s.name == n) out.push_back(&s);
  }
  return out;
}

const ConfSection* ConfSection::child(const std::string& n) const {
  for (const auto& s : sections) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

ConfSection parse_corosync_conf(const std::string& text, const std::string& source) {
  ConfSection root;
  std::vector<ConfSection*> stack{&root};
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  auto fail = [&](const std::string& what) {
    throw Error(Errc::kConfig, source + ":" + std::to_string(lineno) + ": " + what,
                "fix the syntax of the corosync configuration");
  };
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    // Several tokens may share a line ("}" after a value is rare but legal); handle the common
    // shapes: "name {", "key: value", "key = value", "}".
    while (!line.empty()) {
      if (line[0] == '}') {
        if (stack.size() == 1) fail("'}' without an open section");
        stack.pop_back();
        line = trim(std::string_view(line).substr(1));
        continue;
      }
      size_t brace = line.find('{');
      size_t colon = line.find_first_of(":=");
      if (brace != std::string::npos && (colon == std::string::npos || brace < colon)) {
        std::string name = trim(std::string_view(line).substr(0, brace));
        if (name.empty() || name.find(' ') != std::string::npos) fail("bad section name '" + name + "'");
        ConfSection sec;
        sec.name = name;
        sec.line = lineno;
        stack.back()->sections.push_back(std::move(sec));
        stack.push_back(&stack.back()->sections.back());
        line = trim(std::string_view(line).substr(brace + 1));
        continue;
      }
      if (colon == std::string::npos) fail("expected 'key: value', 'name {' or '}', got '" + line + "'");
      std::string key = trim(std::string_view(line).substr(0, colon));
      std::string value = trim(std::string_view(line).substr(colon + 1));
      size_t close = value.find('}');
      std::string rest;
      if (close != std::string::npos) {
        rest = value.substr(close);
        value = trim(std::string_view(value).substr(0, close));
      }
      if (key.empty()) fail("empty key");
      if (stack.size() == 1) fail("key '" + key + "' outside of any section");
      stack.back()->keys.emplace_back(key, value);
      line = rest;
    }
  }
  if (stack.size() != 1) {
    throw Error(Errc::kConfig,
                source + ": section '" + stack.back()->name + "' opened at line " +
                    std::to_string(stack.back()->line) + " is never closed",
                "add the missing '}'");
  }
  return root;
}

CorosyncConf CorosyncConf::from_tree(const ConfSection& root, const std::string& source) {
  CorosyncConf c;
  c.source = source;
  if (const ConfSection* totem = root.child("totem")) {
    c.cluster_name = totem->get("cluster_name").value_or("");
    c.config_version = number_key<uint64_t>(*totem, "config_version", source);
    c.transport = totem->get("transport").value_or("knet");
    c.secauth = totem->get("secauth").value_or("");
    c.crypto_cipher = totem->get("crypto_cipher").value_or("");
    c.link_mode = totem->get("link_mode").value_or("");
    c.token = number_key<uint32_t>(*totem, "token", source);
    c.token_coefficient = number_key<uint32_t>(*totem, "token_coefficient", source);
    c.consensus = number_key<uint32_t>(*totem, "consensus", source);
    for (const ConfSection* itf : totem->children("interface")) {
      CorosyncConfInterface i;
      // corosync 2 used ringnumber, corosync 3 linknumber.
      auto n = number_key<int>(*itf, "linknumber", source);
      if (!n) n = number_key<int>(*itf, "ringnumber", source);
      i.linknumber = n.value_or(0);
      i.knet_link_priority = number_key<int>(*itf, "knet_link_priority", source);
      c.interfaces.push_back(i);
    }
  }
  if (const ConfSection* nodelist = root.child("nodelist")) {
    for (const ConfSection* ns : nodelist->children("node")) {
      CorosyncConfNode n;
      n.line = ns->line;
      n.name = ns->get("name").value_or("");
      n.nodeid = number_key<uint32_t>(*ns, "nodeid", source);
      n.quorum_votes = number_key<int>(*ns, "quorum_votes", source).value_or(1);
      for (const auto& [k, v] : ns->keys) {
        // ring0_addr .. ring7_addr (PVE writes these) or link0_addr (accepted alias).
        for (const char* prefix : {"ring", "link"}) {
          std::string p = prefix;
          if (k.size() > p.size() + 5 && k.rfind(p, 0) == 0 && k.ends_with("_addr")) {
            auto num = to_number<int>(k.substr(p.size(), k.size() - p.size() - 5));
            if (num) n.links[*num] = v;
          }
        }
      }
      if (n.name.empty() && n.links.count(0)) n.name = n.links[0];
      c.nodes.push_back(std::move(n));
    }
  }
  if (const ConfSection* q = root.child("quorum")) {
    c.quorum_provider = q->get("provider").value_or("");
    c.two_node = to_bool(q->get("two_node").value_or("0"));
    if (auto w = q->get("wait_for_all")) c.wait_for_all = to_bool(*w);
    c.last_man_standing = to_bool(q->get("last_man_standing").value_or("0"));
    c.auto_tie_breaker = to_bool(q->get("auto_tie_breaker").value_or("0"));
    c.expected_votes = number_key<int>(*q, "expected_votes", source);
    if (const ConfSection* dev = q->child("device")) {
      c.has_qdevice = true;
      c.qdevice_model = dev->get("model").value_or("");
    }
  }
  return c;
}

CorosyncConf CorosyncConf::parse(const std::string& text, const std::string& source) {
  return from_tree(parse_corosync_conf(text, source), source);
}

CorosyncConf CorosyncConf::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw Error(Errc::kIo, "cannot read corosync configuration " + path,
                "check the path and its permissions");
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

uint32_t CorosyncConf::effective_token_ms() const {
  uint32_t base = token.value_or(1000);
  uint32_t coeff = token_coefficient.value_or(650);
  if (nodes.size() > 2) base += static_cast<uint32_t>(nodes.size() - 2) * coeff;
  return base;
}

int CorosyncConf::total_votes() const {
  int v = 0;
  for (const auto& n : nodes) v += n.quorum_votes;
  return v;
}

}  // namespace pvesafe::cluster
