// PVE's section config files (storage.cfg, ha/resources.cfg, ha/groups.cfg, ha/rules.cfg,
// jobs.cfg, ...): sections "TYPE: ID" followed by indented "KEY VALUE" lines, separated by blank
// lines; "#" starts a comment line. parse and write round-trip a file PVE wrote: properties keep
// their order, a key without a value (a flag) keeps its empty value.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pvesafe::pve {

struct Section {
  std::string type;  // "dir", "vm", "group", "node-affinity", ...
  std::string id;    // "local", "100", ...
  std::vector<std::pair<std::string, std::string>> props;

  std::optional<std::string> get(const std::string& key) const;
  void set(const std::string& key, const std::string& value);  // replaces or appends
};

// Lines that are neither a section header, a property, a comment nor blank are refused
// (kIntegrity naming `what` and the line number): a truncated or foreign file is not guessed at.
std::vector<Section> parse_section_config(const std::string& text, const std::string& what);
std::string write_section_config(const std::vector<Section>& sections);

}  // namespace pvesafe::pve
