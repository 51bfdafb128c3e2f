#include "repo/repository.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_number.h"
#include "crypto/openpgp.h"

namespace pvesafe::repo {

namespace {

constexpr size_t kSecretBytes = 32;

std::string to_hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s(b.size() * 2, '\0');
  for (size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = d[b[i] >> 4];
    s[2 * i + 1] = d[b[i] & 15];
  }
  return s;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return hexval(c) >= 0; });
}

// Finds "field": "VALUE" in a key file without copying the secret into a JSON library's
// unwiped buffers.
std::string_view extract_field(std::string_view text, std::string_view field) {
  std::string pat = "\"" + std::string(field) + "\"";
  size_t p = text.find(pat);
  if (p == std::string_view::npos) return {};
  p = text.find('"', text.find(':', p + pat.size()));
  if (p == std::string_view::npos) return {};
  size_t e = text.find('"', p + 1);
  if (e == std::string_view::npos) return {};
  return text.substr(p + 1, e - p - 1);
}

Secret hex_to_secret(std::string_view hex) {
  std::string raw(hex.size() / 2, '\0');
  for (size_t i = 0; i < raw.size(); ++i) {
    raw[i] = static_cast<char>(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
  }
  Secret s(raw);
  wipe(raw);
  return s;
}

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string quote(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

std::string random_hex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  crypto::random_bytes(b);
  return to_hex(b);
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char z = 0;
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &z);
  if (n < 3 || (n >= 4 && n < 6)) return std::nullopt;
  if (n == 7 && z != 'Z') return std::nullopt;
  // A time_point holds nanoseconds since 1970: years past 2262 would overflow it.
  if (y < 1900 || y > 2200) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  if (tt == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt);
}

bool SnapshotFilter::matches(const SnapshotInfo& s) const {
  if (!node.empty() && s.node != node) return false;
  if (!guest_id.empty() && s.guest_id != guest_id) return false;
  if (!guest_type.empty() && s.guest_type != guest_type) return false;
  if (!hostname.empty() && s.hostname != hostname) return false;
  for (const auto& [k, v] : tags) {
    auto it = s.tags.find(k);
    if (it == s.tags.end() || it->second != v) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Manifest JSON: header fields one per line, then one chunk per line, so a POSIX shell can pull
// the chunk list out with grep/sed (docs/recovery.md).

std::string manifest_to_json(const Manifest& m) {
  const SnapshotInfo& s = m.info;
  std::string out;
  out.reserve(512 + m.chunks.size() * 96);
  out += "{\n";
  out += "  \"format\": " + std::to_string(kFormatVersion) + ",\n";
  out += "  \"id\": " + quote(s.id) + ",\n";
  out += "  \"time\": " + quote(s.time_utc) + ",\n";
  out += "  \"hostname\": " + quote(s.hostname) + ",\n";
  out += "  \"node\": " + quote(s.node) + ",\n";
  out += "  \"guest_id\": " + quote(s.guest_id) + ",\n";
  out += "  \"guest_type\": " + quote(s.guest_type) + ",\n";
  out += "  \"file_name\": " + quote(s.file_name) + ",\n";
  out += "  \"size_bytes\": " + std::to_string(s.size_bytes) + ",\n";
  out += "  \"tags\": " + nlohmann::json(s.tags).dump() + ",\n";
  out += "  \"chunk_count\": " + std::to_string(m.chunks.size()) + ",\n";
  out += "  \"chunks\": [\n";
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    out += "    {\"id\": \"" + m.chunks[i].id + "\", \"size\": " +
           std::to_string(m.chunks[i].size_bytes) + "}";
    out += i + 1 < m.chunks.size() ? ",\n" : "\n";
  }
  out += "  ]\n}\n";
  return out;
}

Manifest manifest_from_json(const std::string& text, const std::string& key) {
  Manifest m;
  try {
    auto j = nlohmann::json::parse(text);
    int format = get_json_integer<int>(j.at("format"));
    if (format > kFormatVersion) {
      throw Error(Errc::kUnsupported,
                  "snapshot " + key + " has format " + std::to_string(format) +
                      ", newer than this pvesafe supports (" + std::to_string(kFormatVersion) + ")",
                  "upgrade pvesafe");
    }
    SnapshotInfo& s = m.info;
    s.id = j.at("id").get<std::string>();
    s.time_utc = j.at("time").get<std::string>();
    auto t = parse_utc(s.time_utc);
    if (!t) throw Error(Errc::kIntegrity, "snapshot " + key + " has an invalid time");
    s.time = *t;
    s.hostname = j.value("hostname", "");
    s.node = j.value("node", "");
    s.guest_id = j.value("guest_id", "");
    s.guest_type = j.value("guest_type", "");
    s.file_name = j.value("file_name", "");
    s.size_bytes = get_json_integer<uint64_t>(j.at("size_bytes"));
    if (j.contains("tags")) s.tags = j["tags"].get<std::map<std::string, std::string>>();
    uint64_t total = 0;
    for (const auto& c : j.at("chunks")) {
      ChunkRef r{c.at("id").get<std::string>(), get_json_integer<uint64_t>(c.at("size"))};
      if (!is_hex(r.id, 64)) throw Error(Errc::kIntegrity, "snapshot " + key + " names an invalid chunk id");
      total += r.size_bytes;
      m.chunks.push_back(std::move(r));
    }
    s.chunk_count = m.chunks.size();
    if (total != s.size_bytes) {
      throw Error(Errc::kIntegrity, "snapshot " + key + ": chunk sizes add up to " +
                                        std::to_string(total) + ", not " + std::to_string(s.size_bytes));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(Errc::kIntegrity, "snapshot " + key + " is not a valid manifest: " + e.what(),
                "run pvesafe verify");
  }
  return m;
}

// ---------------------------------------------------------------------------------------------

struct Repository::Impl {
  std::unique_ptr<store::ObjectStore> store;
  RepositoryConfig config;
  Secret data_passphrase;  // 64 hex digits
  Secret hmac_key;         // 32 bytes
  Secret gear_seed;        // 32 bytes
  std::string key_id;
  // What the key file in use says of itself (other key files open only with their passphrase).
  std::string key_created_utc, key_hostname;

  std::string key_file_plaintext(const std::string& created, const std::string& host) const {
    std::string t;
    t.reserve(4096);  // no reallocation: the only copy of the secrets is wiped by the caller
    Secret h = hex_encode_secret(hmac_key.bytes());
    Secret g = hex_encode_secret(gear_seed.bytes());
    auto add = [&t](std::string_view v) { t.append(v.data(), v.size()); };
    add("{\n  \"format\": " + std::to_string(kFormatVersion) + ",\n");
    add("  \"kind\": \"pvesafe-key\",\n");
    add("  \"repository\": " + quote(config.id) + ",\n");
    add("  \"created\": " + quote(created) + ",\n");
    add("  \"hostname\": " + quote(host) + ",\n");
    add("  \"data_passphrase\": \"");
    add(data_passphrase.view());
    add("\",\n  \"hmac_key\": \"");
    add(h.view());
    add("\",\n  \"gear_seed\": \"");
    add(g.view());
    add("\"\n}\n");
    return t;
  }

  // Writes a new key file and returns its id. With `in_use`, it becomes the key in use.
  std::string write_key(const Secret& passphrase, bool in_use) {
    std::string id = random_hex(16);
    const std::string when = format_utc(std::chrono::system_clock::now()), me = this_hostname();
    std::string text = key_file_plaintext(when, me);
    auto msg = crypto::encrypt_message(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
        passphrase.view(), crypto::S2kStrength::kStrong, "key.json");
    wipe(text);
    store->put("keys/" + id, msg);
    if (in_use) {
      key_id = id;
      key_created_utc = when;
      key_hostname = me;
    }
    return id;
  }
};

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::Repository(Repository&&) noexcept = default;
Repository& Repository::operator=(Repository&&) noexcept = default;
Repository::~Repository() = default;

RepositoryConfig Repository::read_config(store::ObjectStore& store) {
  std::vector<uint8_t> raw;
  try {
    raw = store.get("config");
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) {
      throw Error(Errc::kConfig, "no pvesafe repository at " + store.location(),
                  "check --repo, or create one with pvesafe init");
    }
    throw;
  }
  RepositoryConfig c;
  try {
    auto j = nlohmann::json::parse(raw.begin(), raw.end());
    c.version = get_json_integer<int>(j.at("format"));
    if (c.version > kFormatVersion) {
      throw Error(Errc::kUnsupported,
                  "repository format " + std::to_string(c.version) +
                      " is newer than this pvesafe supports (" + std::to_string(kFormatVersion) + ")",
                  "upgrade pvesafe");
    }
    if (c.version < 1) throw Error(Errc::kIntegrity, "repository config has invalid format " + std::to_string(c.version));
    c.id = j.at("id").get<std::string>();
    c.created_utc = j.value("created", "");
    const auto& ch = j.at("chunker");
    c.chunker.min_size_bytes = get_json_integer<uint32_t>(ch.at("min_size_bytes"));
    c.chunker.avg_size_bytes = get_json_integer<uint32_t>(ch.at("avg_size_bytes"));
    c.chunker.max_size_bytes = get_json_integer<uint32_t>(ch.at("max_size_bytes"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(Errc::kIntegrity, "repository config at " + store.location() + " is damaged: " + e.what(),
                "restore the config object from docs/format.md");
  }
  return c;
}

Repository Repository::init(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase,
                            const InitOptions& options) {
  if (store->stat("config")) {
    throw Error(Errc::kConfig, "a pvesafe repository already exists at " + store->location(),
                "use it, or choose another location");
  }
  auto impl = std::make_unique<Impl>();
  impl->config.version = kFormatVersion;
  impl->config.id = random_hex(16);
  impl->config.created_utc = format_utc(std::chrono::system_clock::now());
  impl->config.chunker = options.chunker;
  std::vector<uint8_t> b(kSecretBytes);
  crypto::random_bytes(b);
  impl->data_passphrase = hex_encode_secret(b);
  crypto::random_bytes(b);
  impl->hmac_key = Secret(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  crypto::random_bytes(b);
  impl->gear_seed = Secret(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  wipe(b.data(), b.size());
  impl->store = std::move(store);
  std::vector<std::string> prefixes;
  for (int i = 0; i < 256; ++i) {
    char dir[16];
    std::snprintf(dir, sizeof dir, "data/%02x/", i);  // as chunk_key() names them
    prefixes.emplace_back(dir);
  }
  impl->store->prepare_prefixes(prefixes);
  impl->write_key(passphrase, true);

  nlohmann::ordered_json j;
  j["format"] = kFormatVersion;
  j["id"] = impl->config.id;
  j["created"] = impl->config.created_utc;
  j["chunker"] = {{"algorithm", "gear-fastcdc-hmac-sha256-v1"},
                  {"min_size_bytes", options.chunker.min_size_bytes},
                  {"avg_size_bytes", options.chunker.avg_size_bytes},
                  {"max_size_bytes", options.chunker.max_size_bytes}};
  j["object_encryption"] = "openpgp-skesk4-seipd1-aes256";
  j["chunk_payload"] = "zstd-frame";
  std::string text = j.dump(2) + "\n";
  impl->store->put("config", std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  return Repository(std::move(impl));
}

Repository Repository::open(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase) {
  auto impl = std::make_unique<Impl>();
  impl->config = read_config(*store);
  std::vector<std::string> keys;
  store->list("keys/", [&](const store::ObjectInfo& o) { keys.push_back(o.key); });
  std::sort(keys.begin(), keys.end());
  if (keys.empty()) {
    throw Error(Errc::kConfig, "repository at " + store->location() + " has no key files",
                "restore a keys/ object from a copy");
  }
  for (const auto& k : keys) {
    std::vector<uint8_t> plain;
    try {
      plain = crypto::decrypt_message(store->get(k), passphrase.view());
    } catch (const Error& e) {
      if (e.code() == Errc::kAuth || e.code() == Errc::kIntegrity) continue;
      throw;
    }
    std::string_view text(reinterpret_cast<const char*>(plain.data()), plain.size());
    auto dp = extract_field(text, "data_passphrase");
    auto hk = extract_field(text, "hmac_key");
    auto gs = extract_field(text, "gear_seed");
    auto rid = extract_field(text, "repository");
    if (!is_hex(dp, 64) || !is_hex(hk, 64) || !is_hex(gs, 64)) {
      wipe(plain.data(), plain.size());
      throw Error(Errc::kIntegrity, "key file " + k + " opens but its content is damaged",
                  "open the repository with another key");
    }
    if (rid != impl->config.id) {
      wipe(plain.data(), plain.size());
      throw Error(Errc::kIntegrity, "key file " + k + " belongs to another repository");
    }
    impl->data_passphrase = Secret(dp);
    impl->hmac_key = hex_to_secret(hk);
    impl->gear_seed = hex_to_secret(gs);
    impl->key_created_utc = std::string(extract_field(text, "created"));
    impl->key_hostname = std::string(extract_field(text, "hostname"));
    wipe(plain.data(), plain.size());
    impl->key_id = k.substr(5);
    impl->store = std::move(store);
    return Repository(std::move(impl));
  }
  throw Error(Errc::kAuth,
              "wrong passphrase: it opens none of the " + std::to_string(keys.size()) +
                  " key files of the repository at " + store->location(),
              "check the passphrase source");
}

const RepositoryConfig& Repository::config() const { return impl_->config; }
store::ObjectStore& Repository::store() const { return *impl_->store; }
std::string Repository::location() const { return impl_->store->location(); }
std::string Repository::current_key_id() const { return impl_->key_id; }

std::vector<KeyInfo> Repository::list_keys() {
  std::vector<KeyInfo> out;
  impl_->store->list("keys/", [&](const store::ObjectInfo& o) {
    KeyInfo k;
    k.id = o.key.substr(5);
    k.current = k.id == impl_->key_id;
    if (k.current) {
      k.created_utc = impl_->key_created_utc;
      k.hostname = impl_->key_hostname;
    }
    out.push_back(std::move(k));
  });
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.id < b.id; });
  return out;
}

std::string Repository::add_key(const Secret& passphrase) { return impl_->write_key(passphrase, false); }

void Repository::remove_key(const std::string& prefix) {
  std::vector<std::string> ids;
  impl_->store->list("keys/", [&](const store::ObjectInfo& o) { ids.push_back(o.key.substr(5)); });
  std::vector<std::string> match;
  for (auto& id : ids) {
    if (id.rfind(prefix, 0) == 0) match.push_back(id);
  }
  if (match.empty()) throw Error(Errc::kNotFound, "no key " + prefix + " in " + location(), "see pvesafe key list");
  if (match.size() > 1) throw Error(Errc::kUsage, "key prefix " + prefix + " is ambiguous", "give more digits");
  if (match[0] == impl_->key_id) {
    throw Error(Errc::kUsage, "refusing to remove key " + match[0] + ": it is the key in use",
                "open the repository with another key's passphrase to remove this one");
  }
  if (ids.size() <= 1) throw Error(Errc::kUsage, "refusing to remove the last key");
  impl_->store->remove("keys/" + match[0]);
}

std::string Repository::change_passphrase(const Secret& new_passphrase) {
  std::string old = impl_->key_id;
  std::string id = impl_->write_key(new_passphrase, true);
  impl_->store->remove("keys/" + old);
  return id;
}

std::string Repository::chunk_id(std::span<const uint8_t> plaintext) const {
  uint8_t mac[32];
  unsigned len = 0;
  if (!HMAC(EVP_sha256(), impl_->hmac_key.bytes().data(), static_cast<int>(impl_->hmac_key.size()),
            plaintext.data(), plaintext.size(), mac, &len)) {
    throw Error(Errc::kInternal, "HMAC-SHA-256 failed");
  }
  return to_hex(std::span<const uint8_t>(mac, 32));
}

std::string Repository::chunk_key(const std::string& id) { return "data/" + id.substr(0, 2) + "/" + id; }

std::span<const uint8_t> Repository::gear_seed() const { return impl_->gear_seed.bytes(); }

std::vector<uint8_t> Repository::seal(std::span<const uint8_t> plaintext) const {
  return crypto::encrypt_message(plaintext, impl_->data_passphrase.view(), crypto::S2kStrength::kFast);
}

AlignedBuffer Repository::seal(std::span<const std::span<const uint8_t>> plaintext) const {
  AlignedBuffer out;
  size_t n = crypto::encrypt_message_into(plaintext, impl_->data_passphrase.view(),
                                          crypto::S2kStrength::kFast, [&](size_t size) {
                                            out = AlignedBuffer(size);
                                            return out.data();
                                          });
  out.shrink(n);
  return out;
}

std::vector<uint8_t> Repository::unseal(std::span<const uint8_t> object, const std::string& key) const {
  try {
    return crypto::decrypt_message(object, impl_->data_passphrase.view());
  } catch (const Error& e) {
    if (e.code() == Errc::kAuth) {
      throw Error(Errc::kIntegrity,
                  "object " + key + " does not decrypt with this repository's key (damaged or foreign)",
                  "run pvesafe verify --read-data");
    }
    if (e.code() == Errc::kIntegrity) {
      throw Error(Errc::kIntegrity, "object " + key + " is damaged: " + e.message(),
                  "run pvesafe verify --read-data");
    }
    throw Error(e.code(), "object " + key + ": " + e.message(), e.hint());
  }
}

std::vector<uint8_t> Repository::load(const std::string& key) {
  return unseal(impl_->store->get(key), key);
}

void Repository::save(const std::string& key, std::span<const uint8_t> plaintext) {
  impl_->store->put(key, seal(plaintext));
}

std::vector<SnapshotInfo> Repository::list_snapshots() { return list_snapshots(SnapshotFilter{}); }

std::vector<SnapshotInfo> Repository::list_snapshots(const SnapshotFilter& filter) {
  std::vector<std::string> keys;
  impl_->store->list("snapshots/", [&](const store::ObjectInfo& o) { keys.push_back(o.key); });
  std::vector<SnapshotInfo> out;
  for (const auto& k : keys) {
    auto plain = load(k);
    Manifest m = manifest_from_json(std::string(plain.begin(), plain.end()), k);
    if (filter.matches(m.info)) out.push_back(std::move(m.info));
  }
  std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
  return out;
}

std::string Repository::resolve_snapshot(const std::string& s, const SnapshotFilter& filter) {
  if (s == "latest") {
    auto all = list_snapshots(filter);
    if (all.empty()) {
      throw Error(Errc::kNotFound, "no snapshot matches in " + location(), "see pvesafe snapshots");
    }
    return all.back().id;
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return hexval(c) >= 0; })) {
    throw Error(Errc::kUsage, "'" + s + "' is not a snapshot id", "give an id, a unique prefix or latest");
  }
  std::vector<std::string> match;
  impl_->store->list("snapshots/" + s, [&](const store::ObjectInfo& o) { match.push_back(o.key.substr(10)); });
  if (match.empty()) throw Error(Errc::kNotFound, "snapshot " + s + " not found in " + location(), "see pvesafe snapshots");
  if (match.size() > 1) throw Error(Errc::kUsage, "snapshot prefix " + s + " is ambiguous", "give more digits");
  return match[0];
}

Manifest Repository::load_manifest(const std::string& id) {
  std::string key = "snapshots/" + id;
  std::vector<uint8_t> plain;
  try {
    plain = load(key);
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) {
      throw Error(Errc::kNotFound, "snapshot " + id + " not found in " + location(), "see pvesafe snapshots");
    }
    throw;
  }
  return manifest_from_json(std::string(plain.begin(), plain.end()), key);
}

void Repository::save_manifest(const Manifest& m) {
  std::string text = manifest_to_json(m);
  save("snapshots/" + m.info.id, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void Repository::remove_snapshot(const std::string& id) { impl_->store->remove("snapshots/" + id); }

std::vector<store::ObjectInfo> Repository::list_chunks() {
  std::vector<store::ObjectInfo> out;
  impl_->store->list("data/", [&](const store::ObjectInfo& o) {
    std::string_view name(o.key);
    size_t slash = name.find_last_of('/');
    if (is_hex(name.substr(slash + 1), 64)) out.push_back(o);
  });
  return out;
}

}  // namespace pvesafe::repo
