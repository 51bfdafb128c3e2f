#include "repo/manifest.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_number.h"
#include "core/hex.h"

namespace pvesafe::repo {

namespace {

constexpr int kNewestFormat = 2;

std::string quote(const std::string& s) { return nlohmann::json(s).dump(); }

Error bad(const std::string& key, const std::string& what) {
  return Error(Errc::kIntegrity, "snapshot " + key + " is not a valid manifest: " + what, "run pvesafe verify");
}

void check_id(const std::string& id, const std::string& key) {
  if (!is_hex(id, 64)) throw bad(key, "invalid chunk id '" + id.substr(0, 80) + "'");
}

std::string list_line(const ListRef& l, const std::string& of) {
  return "    {\"list\": \"" + l.id + "\", \"of\": " + quote(of) + ", \"size\": " + std::to_string(l.size_bytes) +
         ", \"entries\": " + std::to_string(l.entries) + "}";
}

ListRef list_from(const nlohmann::json& j, const std::string& key) {
  ListRef l{j.at("list").get<std::string>(), get_json_integer<uint64_t>(j.at("size")), get_json_integer<uint64_t>(j.at("entries"))};
  check_id(l.id, key);
  return l;
}

// Parses an unsigned decimal field of a list line; false when it is not one.
bool parse_u64(std::string_view s, uint64_t& v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Splits "a b c\n..." lines into fields; calls fn(fields, line number) for each line.
template <typename Fn>
void for_each_line(const std::string& text, const std::string& what, size_t fields, Fn fn) {
  size_t pos = 0, line = 0;
  std::string_view f[4];
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) throw Error(Errc::kIntegrity, what + ": the last line is not terminated");
    std::string_view l(text.data() + pos, end - pos);
    ++line;
    size_t n = 0, p = 0;
    while (n < fields) {
      size_t sp = l.find(' ', p);
      if (n + 1 == fields) sp = std::string_view::npos;
      f[n++] = l.substr(p, sp == std::string_view::npos ? std::string_view::npos : sp - p);
      if (sp == std::string_view::npos) break;
      p = sp + 1;
    }
    if (n != fields || f[fields - 1].find(' ') != std::string_view::npos) {
      throw Error(Errc::kIntegrity, what + ": line " + std::to_string(line) + " is malformed");
    }
    fn(f, line);
    pos = end + 1;
  }
}

}  // namespace

bool snapshot_before(const SnapshotInfo& a, const SnapshotInfo& b) {
  if (a.time != b.time) return a.time < b.time;
  if (a.commit_ns != b.commit_ns) return a.commit_ns < b.commit_ns;
  return a.id < b.id;
}

std::string manifest_to_json(const Manifest& m) {
  const SnapshotInfo& s = m.info;
  std::string out;
  size_t lines = m.stream.inline_chunks.size() + m.stream.lists.size() + m.disks.size() + m.configs.size();
  for (const auto& d : m.disks) lines += d.lists.size();
  out.reserve(1024 + lines * 140);
  out += "{\n";
  out += "  \"format\": " + std::to_string(m.format) + ",\n";
  out += "  \"id\": " + quote(s.id) + ",\n";
  out += "  \"time\": " + quote(s.time_utc) + ",\n";
  if (m.format >= 2) out += "  \"commit_ns\": " + std::to_string(s.commit_ns) + ",\n";
  out += "  \"hostname\": " + quote(s.hostname) + ",\n";
  out += "  \"node\": " + quote(s.node) + ",\n";
  out += "  \"guest_id\": " + quote(s.guest_id) + ",\n";
  out += "  \"guest_type\": " + quote(s.guest_type) + ",\n";
  out += "  \"file_name\": " + quote(s.file_name) + ",\n";
  out += "  \"size_bytes\": " + std::to_string(s.size_bytes) + ",\n";
  out += "  \"tags\": " + nlohmann::json(s.tags).dump() + ",\n";
  if (m.format < 2) {
    out += "  \"chunk_count\": " + std::to_string(m.stream.inline_chunks.size()) + ",\n";
    out += "  \"chunks\": [\n";
    const auto& c = m.stream.inline_chunks;
    for (size_t i = 0; i < c.size(); ++i) {
      out += "    {\"id\": \"" + c[i].id + "\", \"size\": " + std::to_string(c[i].size_bytes) + "}";
      out += i + 1 < c.size() ? ",\n" : "\n";
    }
    out += "  ]\n}\n";
    return out;
  }
  out += "  \"kind\": " + quote(s.kind) + ",\n";
  out += "  \"chunk_count\": " + std::to_string(s.chunk_count) + ",\n";
  if (s.received) {
    const auto& r = *s.received;
    out += "  \"received\": {\"name\": " + quote(r.name) + ", \"compression\": " + quote(r.compression) +
           ", \"size_bytes\": " + std::to_string(r.size_bytes) + ", \"sha256\": " + quote(r.sha256) + "},\n";
  }
  if (s.kind == "vma") out += "  \"vma_uuid\": " + quote(m.vma_uuid) + ",\n";
  out += "  \"stream\": {\"size_bytes\": " + std::to_string(m.stream.size_bytes) +
         ", \"chunk_count\": " + std::to_string(m.stream.chunk_count) + "},\n";
  out += "  \"configs\": [\n";
  for (size_t i = 0; i < m.configs.size(); ++i) {
    const auto& c = m.configs[i];
    out += "    {\"config\": " + quote(c.name) + ", \"id\": \"" + c.id + "\", \"size\": " + std::to_string(c.size_bytes) + "}";
    out += i + 1 < m.configs.size() ? ",\n" : "\n";
  }
  out += "  ],\n  \"disks\": [\n";
  for (size_t i = 0; i < m.disks.size(); ++i) {
    const auto& d = m.disks[i];
    out += "    {\"disk\": " + quote(d.name) + ", \"dev_id\": " + std::to_string(d.dev_id) +
           ", \"size_bytes\": " + std::to_string(d.size_bytes) + ", \"chunk_bytes\": " + std::to_string(d.chunk_bytes) +
           ", \"chunk_count\": " + std::to_string(d.chunk_count) + ", \"data_bytes\": " + std::to_string(d.data_bytes) + "}";
    out += i + 1 < m.disks.size() ? ",\n" : "\n";
  }
  out += "  ],\n  \"lists\": [\n";
  std::vector<std::string> rows;
  for (const auto& l : m.stream.lists) rows.push_back(list_line(l, "stream"));
  for (const auto& d : m.disks) {
    for (const auto& l : d.lists) rows.push_back(list_line(l, d.name));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    out += rows[i];
    out += i + 1 < rows.size() ? ",\n" : "\n";
  }
  out += "  ]\n}\n";
  return out;
}

Manifest manifest_from_json(const std::string& text, const std::string& key) {
  Manifest m;
  try {
    auto j = nlohmann::json::parse(text);
    m.format = get_json_integer<int>(j.at("format"));
    if (m.format > kNewestFormat) {
      throw Error(Errc::kUnsupported,
                  "snapshot " + key + " has format " + std::to_string(m.format) +
                      ", newer than this pvesafe supports (" + std::to_string(kNewestFormat) + ")",
                  "upgrade pvesafe");
    }
    if (m.format < 1) throw bad(key, "format " + std::to_string(m.format));
    SnapshotInfo& s = m.info;
    s.id = j.at("id").get<std::string>();
    if (!is_hex(s.id, 32)) throw bad(key, "invalid snapshot id");
    s.time_utc = j.at("time").get<std::string>();
    auto t = parse_utc(s.time_utc);
    if (!t) throw bad(key, "invalid time '" + s.time_utc.substr(0, 40) + "'");
    s.time = *t;
    s.commit_ns = j.value("commit_ns", int64_t{0});
    s.hostname = j.value("hostname", "");
    s.node = j.value("node", "");
    s.guest_id = j.value("guest_id", "");
    s.guest_type = j.value("guest_type", "");
    s.file_name = j.value("file_name", "");
    s.size_bytes = get_json_integer<uint64_t>(j.at("size_bytes"));
    if (j.contains("tags")) s.tags = j["tags"].get<std::map<std::string, std::string>>();
    if (m.format == 1) {
      uint64_t total = 0;
      for (const auto& c : j.at("chunks")) {
        ChunkRef r{c.at("id").get<std::string>(), get_json_integer<uint64_t>(c.at("size"))};
        check_id(r.id, key);
        total += r.size_bytes;
        m.stream.inline_chunks.push_back(std::move(r));
      }
      if (total != s.size_bytes) {
        throw bad(key, "chunk sizes add up to " + std::to_string(total) + ", not " + std::to_string(s.size_bytes));
      }
      m.stream.size_bytes = total;
      m.stream.chunk_count = m.stream.inline_chunks.size();
      s.chunk_count = m.stream.chunk_count;
      s.kind = "stream";
      return m;
    }
    s.kind = j.at("kind").get<std::string>();
    if (s.kind != "stream" && s.kind != "vma") throw bad(key, "unknown kind '" + s.kind.substr(0, 40) + "'");
    s.chunk_count = j.value("chunk_count", uint64_t{0});
    if (j.contains("received") && j["received"].is_object()) {
      const auto& r = j["received"];
      s.received = ReceivedArchive{r.value("name", ""), r.value("compression", ""),
                                   r.value("size_bytes", uint64_t{0}), r.value("sha256", "")};
    }
    m.vma_uuid = j.value("vma_uuid", "");
    if (s.kind == "vma" && !is_hex(m.vma_uuid, 32)) throw bad(key, "invalid vma_uuid");
    const auto& st = j.at("stream");
    m.stream.size_bytes = get_json_integer<uint64_t>(st.at("size_bytes"));
    m.stream.chunk_count = get_json_integer<uint64_t>(st.at("chunk_count"));
    for (const auto& c : j.at("configs")) {
      ConfigPart p{c.at("config").get<std::string>(), c.at("id").get<std::string>(), get_json_integer<uint64_t>(c.at("size"))};
      check_id(p.id, key);
      m.configs.push_back(std::move(p));
    }
    for (const auto& d : j.at("disks")) {
      DiskPart p;
      p.name = d.at("disk").get<std::string>();
      p.dev_id = get_json_integer<uint32_t>(d.at("dev_id"));
      p.size_bytes = get_json_integer<uint64_t>(d.at("size_bytes"));
      p.chunk_bytes = get_json_integer<uint32_t>(d.at("chunk_bytes"));
      p.chunk_count = d.value("chunk_count", uint64_t{0});
      p.data_bytes = d.value("data_bytes", uint64_t{0});
      if (p.name.empty() || p.name == "stream") throw bad(key, "invalid disk name");
      if (p.chunk_bytes == 0 || p.chunk_bytes % 65536 != 0) throw bad(key, "invalid chunk_bytes of disk " + p.name);
      s.disks.push_back({p.name, p.size_bytes});
      m.disks.push_back(std::move(p));
    }
    for (const auto& l : j.at("lists")) {
      std::string of = l.at("of").get<std::string>();
      ListRef ref = list_from(l, key);
      if (of == "stream") {
        m.stream.lists.push_back(std::move(ref));
        continue;
      }
      bool found = false;
      for (auto& d : m.disks) {
        if (d.name == of) {
          d.lists.push_back(ref);
          found = true;
          break;
        }
      }
      if (!found) throw bad(key, "a list names the unknown disk '" + of.substr(0, 80) + "'");
    }
    if (s.kind == "stream" && m.stream.size_bytes != s.size_bytes) {
      throw bad(key, "stream holds " + std::to_string(m.stream.size_bytes) + " bytes, not " + std::to_string(s.size_bytes));
    }
  } catch (const nlohmann::json::exception& e) {
    throw bad(key, e.what());
  }
  return m;
}

std::string stream_list_text(const std::vector<ChunkRef>& chunks, size_t begin, size_t end) {
  std::string out;
  out.reserve((end - begin) * 76);
  for (size_t i = begin; i < end; ++i) {
    out += chunks[i].id;
    out += ' ';
    out += std::to_string(chunks[i].size_bytes);
    out += '\n';
  }
  return out;
}

std::string disk_list_text(const std::vector<DiskChunk>& chunks, size_t begin, size_t end) {
  std::string out;
  out.reserve((end - begin) * 88);
  for (size_t i = begin; i < end; ++i) {
    out += std::to_string(chunks[i].offset);
    out += ' ';
    out += chunks[i].id;
    out += ' ';
    out += std::to_string(chunks[i].size_bytes);
    out += '\n';
  }
  return out;
}

void parse_stream_list(const std::string& text, const std::string& what, std::vector<ChunkRef>& out) {
  for_each_line(text, what, 2, [&](std::string_view* f, size_t line) {
    ChunkRef r;
    if (!is_hex(f[0], 64) || !parse_u64(f[1], r.size_bytes)) {
      throw Error(Errc::kIntegrity, what + ": line " + std::to_string(line) + " is malformed");
    }
    r.id = std::string(f[0]);
    out.push_back(std::move(r));
  });
}

void parse_disk_list(const std::string& text, const std::string& what, std::vector<DiskChunk>& out) {
  for_each_line(text, what, 3, [&](std::string_view* f, size_t line) {
    DiskChunk c;
    if (!parse_u64(f[0], c.offset) || !is_hex(f[1], 64) || !parse_u64(f[2], c.size_bytes)) {
      throw Error(Errc::kIntegrity, what + ": line " + std::to_string(line) + " is malformed");
    }
    c.id = std::string(f[1]);
    out.push_back(std::move(c));
  });
}

}  // namespace pvesafe::repo
