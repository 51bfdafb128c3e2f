#include "pve/section_config.h"

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::pve {

std::optional<std::string> Section::get(const std::string& key) const {
  for (const auto& [k, v] : props) {
    if (k == key) return v;
  }
  return std::nullopt;
}

void Section::set(const std::string& key, const std::string& value) {
  for (auto& [k, v] : props) {
    if (k == key) {
      v = value;
      return;
    }
  }
  props.emplace_back(key, value);
}

std::vector<Section> parse_section_config(const std::string& text, const std::string& what) {
  std::vector<Section> out;
  size_t pos = 0;
  int line_no = 0;
  bool in_section = false;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) {
      in_section = false;
      continue;
    }
    if (line[first] == '#') continue;
    if (first > 0) {
      if (!in_section) {
        throw Error(Errc::kIntegrity,
                    fmt::format("{} line {}: a property outside of a section", what, line_no));
      }
      std::string body = line.substr(first);
      size_t sp = body.find_first_of(" \t");
      std::string key = body.substr(0, sp);
      std::string value;
      if (sp != std::string::npos) {
        size_t v = body.find_first_not_of(" \t", sp);
        if (v != std::string::npos) value = body.substr(v);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      out.back().props.emplace_back(key, value);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      throw Error(Errc::kIntegrity,
                  fmt::format("{} line {}: '{}' is not a section header (TYPE: ID)", what, line_no,
                              line.substr(0, 60)));
    }
    Section s;
    s.type = line.substr(0, colon);
    size_t id = line.find_first_not_of(" \t", colon + 1);
    s.id = id == std::string::npos ? "" : line.substr(id);
    while (!s.id.empty() && (s.id.back() == ' ' || s.id.back() == '\t')) s.id.pop_back();
    if (s.id.empty()) {
      throw Error(Errc::kIntegrity,
                  fmt::format("{} line {}: section '{}' has no id", what, line_no, s.type));
    }
    out.push_back(std::move(s));
    in_section = true;
  }
  return out;
}

std::string write_section_config(const std::vector<Section>& sections) {
  std::string out;
  for (size_t i = 0; i < sections.size(); ++i) {
    const auto& s = sections[i];
    if (i) out += "\n";
    out += s.type + ": " + s.id + "\n";
    for (const auto& [k, v] : s.props) {
      out += "\t" + k;
      if (!v.empty()) out += " " + v;
      out += "\n";
    }
  }
  return out;
}

}  // namespace pvesafe::pve
