#include "repo/repository.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "chunk/compress.h"
#include "core/error.h"
#include "core/hex.h"
#include "core/json_number.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_key.h"
#include "crypto/recipient.h"
#include "repo/layout.h"

namespace pvesafe::repo {

namespace {

constexpr size_t kSecretBytes = 32;

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
    raw[i] = static_cast<char>(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
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

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The settings a MAC authenticates, in a fixed text form (docs/format.md, "config").
std::string config_mac_text(const RepositoryConfig& c) {
  return "pvesafe-config\nformat=" + std::to_string(c.version) + "\nid=" + c.id +
         "\nchunker=" + std::to_string(c.chunker.min_size_bytes) + "," +
         std::to_string(c.chunker.avg_size_bytes) + "," + std::to_string(c.chunker.max_size_bytes) +
         "\ndisk_chunk=" + std::to_string(c.disk_chunk_bytes) +
         "\npack=" + std::to_string(c.pack_bytes) + "\n" +
         (c.version >= 3 ? "recipient=" + c.recipient + "\n" : "");
}

std::string hmac_hex(const Secret& key, std::string_view text) {
  uint8_t mac[32];
  unsigned len = 0;
  if (!HMAC(EVP_sha256(), key.bytes().data(), static_cast<int>(key.size()),
            reinterpret_cast<const uint8_t*>(text.data()), text.size(), mac, &len)) {
    throw Error(Errc::kInternal, "HMAC-SHA-256 failed");
  }
  return to_hex(std::span<const uint8_t>(mac, 32));
}

bool power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

// Settings outside these ranges are refused whatever their source: a store writer must not be
// able to make chunks tiny (to learn content from sizes) or huge (to exhaust memory).
void check_settings(const RepositoryConfig& c, Errc code, const std::string& where) {
  const auto& ch = c.chunker;
  auto fail = [&](const std::string& what) { throw Error(code, where + ": " + what); };
  if (ch.min_size_bytes < 4096 || ch.max_size_bytes > 16u * 1024 * 1024 || !power_of_two(ch.avg_size_bytes) ||
      !(ch.min_size_bytes < ch.avg_size_bytes && ch.avg_size_bytes < ch.max_size_bytes)) {
    fail("chunk sizes must satisfy 4 KiB <= min < avg < max <= 16 MiB with avg a power of two");
  }
  if (c.disk_chunk_bytes < 64 * 1024 || c.disk_chunk_bytes > 16u * 1024 * 1024 || c.disk_chunk_bytes % (64 * 1024)) {
    fail("the disk chunk size must be a multiple of 64 KiB between 64 KiB and 16 MiB");
  }
  if (c.pack_bytes < 1024 * 1024 || c.pack_bytes > 1024u * 1024 * 1024) {
    fail("the pack size must be between 1 MiB and 1 GiB");
  }
}

std::string config_json(const RepositoryConfig& c, const std::string& mac) {
  nlohmann::ordered_json j;
  j["format"] = c.version;
  j["id"] = c.id;
  j["created"] = c.created_utc;
  j["chunker"] = {{"algorithm", "gear-fastcdc-hmac-sha256-v1"},
                  {"min_size_bytes", c.chunker.min_size_bytes},
                  {"avg_size_bytes", c.chunker.avg_size_bytes},
                  {"max_size_bytes", c.chunker.max_size_bytes}};
  j["disk_chunk_bytes"] = c.disk_chunk_bytes;
  j["pack_bytes"] = c.pack_bytes;
  j["object_encryption"] = "openpgp-skesk4-seipd1-aes256";
  if (c.version >= 3) {
    j["data_encryption"] = "openpgp-pkesk3-seipd1-aes256";
    j["recipient"] = c.recipient;
  }
  j["chunk_payload"] = "zstd-frame";
  j["mac"] = mac;
  return j.dump(2) + "\n";
}

}  // namespace

std::string random_hex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  crypto::random_bytes(b);
  return to_hex(b);
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

struct Repository::Impl {
  std::unique_ptr<store::ObjectStore> store;
  RepositoryConfig config;
  Secret data_passphrase;  // 64 hex digits
  Secret hmac_key;         // 32 bytes
  Secret gear_seed;        // 32 bytes
  std::string key_id;
  std::string config_mac;  // as read from the config (format 2)
  // What the key file in use says of itself (other key files open only with their passphrase).
  std::string key_created_utc, key_hostname;
  // Format 3.
  KeyMode mode = KeyMode::kFull;
  std::vector<uint8_t> recipient_cert;  // binary certificate
  std::optional<crypto::Recipient> recipient;
  std::shared_ptr<crypto::SessionKeyProvider> provider;

  bool format3() const { return config.version >= 3; }

  void set_recipient(std::span<const uint8_t> cert_data) {
    crypto::PublicKey key = crypto::load_public_key(cert_data);
    recipient_cert.assign(key.packets().begin(), key.packets().end());
    recipient.emplace(key);
  }

  std::string key_file_plaintext(const std::string& created, const std::string& host,
                                 KeyMode m) const {
    std::string t;
    t.reserve(4096);  // no reallocation: the only copy of the secrets is wiped by the caller
    Secret h = hex_encode_secret(hmac_key.bytes());
    Secret g = hex_encode_secret(gear_seed.bytes());
    auto add = [&t](std::string_view v) { t.append(v.data(), v.size()); };
    add("{\n  \"format\": " + std::to_string(format3() ? 3 : kPlainFormatVersion) + ",\n");
    add("  \"kind\": \"pvesafe-key\",\n");
    if (format3()) add("  \"mode\": \"" + std::string(key_mode_name(m)) + "\",\n");
    add("  \"repository\": " + quote(config.id) + ",\n");
    add("  \"created\": " + quote(created) + ",\n");
    add("  \"hostname\": " + quote(host) + ",\n");
    // Format 3: the passphrase opens structure objects only (data chunks go to the recipient).
    add(format3() ? "  \"structure_passphrase\": \"" : "  \"data_passphrase\": \"");
    add(data_passphrase.view());
    add("\",\n  \"hmac_key\": \"");
    add(h.view());
    add("\",\n  \"gear_seed\": \"");
    add(g.view());
    if (format3()) add("\",\n  \"recipient\": \"" + to_hex(recipient_cert));
    add("\"\n}\n");
    return t;
  }

  // Writes a new key file and returns its id. With `in_use`, it becomes the key in use.
  std::string write_key(const Secret& passphrase, bool in_use, KeyMode m = KeyMode::kFull) {
    std::string id = random_hex(16);
    const std::string when = format_utc(std::chrono::system_clock::now()), me = this_hostname();
    std::string text = key_file_plaintext(when, me, m);
    auto msg = crypto::encrypt_message(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
        passphrase.view(), crypto::S2kStrength::kStrong, "key.json");
    wipe(text);
    store->put(layout::key_file(id), msg);
    if (format3()) {
      // What any key holder may know of every key: its mode, when and where it was made.
      nlohmann::ordered_json info{
          {"id", id}, {"mode", std::string(key_mode_name(m))}, {"created", when}, {"hostname", me}};
      std::string t = info.dump(1) + "\n";
      store->put(layout::key_info(id), crypto::encrypt_message(bytes_of(t), data_passphrase.view(),
                                                               crypto::S2kStrength::kFast));
    }
    if (in_use) {
      key_id = id;
      key_created_utc = when;
      key_hostname = me;
      mode = m;
    }
    return id;
  }
};

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::Repository(Repository&&) noexcept = default;
Repository& Repository::operator=(Repository&&) noexcept = default;
Repository::~Repository() = default;

uint64_t RepositoryConfig::max_chunk_bytes() const {
  // Data chunks are at most the chunker's max or the disk chunk size; list chunks (text) stay
  // below 1 MiB per 4096 entries.
  return std::max<uint64_t>({chunker.max_size_bytes, disk_chunk_bytes, 4u * 1024 * 1024});
}

RepositoryConfig Repository::read_config(store::ObjectStore& store) {
  std::vector<uint8_t> raw;
  try {
    raw = store.get(std::string(layout::kConfig));
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
    if (!is_hex(c.id, 32)) throw Error(Errc::kIntegrity, "repository config at " + store.location() + " has an invalid id");
    c.created_utc = j.value("created", "");
    const auto& ch = j.at("chunker");
    c.chunker.min_size_bytes = get_json_integer<uint32_t>(ch.at("min_size_bytes"));
    c.chunker.avg_size_bytes = get_json_integer<uint32_t>(ch.at("avg_size_bytes"));
    c.chunker.max_size_bytes = get_json_integer<uint32_t>(ch.at("max_size_bytes"));
    if (c.version >= 2) {
      c.disk_chunk_bytes = get_json_integer<uint32_t>(j.at("disk_chunk_bytes"));
      c.pack_bytes = get_json_integer<uint32_t>(j.at("pack_bytes"));
    }
    if (c.version >= 3) {
      c.recipient = j.at("recipient").get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(Errc::kIntegrity, "repository config at " + store.location() + " is damaged: " + e.what(),
                "restore the config object from a copy (docs/format.md)");
  }
  if (c.version >= 3 && !is_hex(c.recipient, 40)) {
    throw Error(Errc::kIntegrity,
                "repository config at " + store.location() + " names no valid recipient",
                "restore the config object from a copy (docs/format.md)");
  }
  check_settings(c, Errc::kIntegrity, "repository config at " + store.location());
  return c;
}

Repository Repository::init(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase,
                            const InitOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->config.version = kFormatVersion;
  impl->config.id = random_hex(16);
  impl->config.created_utc = format_utc(std::chrono::system_clock::now());
  impl->config.chunker = options.chunker;
  impl->config.disk_chunk_bytes = options.disk_chunk_bytes;
  impl->config.pack_bytes = options.pack_bytes;
  if (options.recipient_cert.empty()) {
    impl->config.version = kPlainFormatVersion;
  } else {
    impl->set_recipient(options.recipient_cert);
    impl->config.recipient = crypto::fingerprint_hex(impl->recipient->key().primary().fingerprint);
  }
  check_settings(impl->config, Errc::kUsage, "repository settings");
  if (store->stat(std::string(layout::kConfig))) {
    throw Error(Errc::kConfig, "a pvesafe repository already exists at " + store->location(),
                "use it, or choose another location");
  }
  std::vector<uint8_t> b(kSecretBytes);
  crypto::random_bytes(b);
  impl->data_passphrase = hex_encode_secret(b);
  crypto::random_bytes(b);
  impl->hmac_key = Secret(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  crypto::random_bytes(b);
  impl->gear_seed = Secret(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  wipe(b.data(), b.size());
  impl->store = std::move(store);
  impl->store->prepare_prefixes(layout::fanout(layout::kPacks));
  impl->write_key(passphrase, true);
  impl->config_mac = hmac_hex(impl->hmac_key, config_mac_text(impl->config));
  std::string text = config_json(impl->config, impl->config_mac);
  impl->store->put(std::string(layout::kConfig), bytes_of(text));
  return Repository(std::move(impl));
}

Repository Repository::open(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase) {
  auto impl = std::make_unique<Impl>();
  impl->config = read_config(*store);
  std::vector<std::string> keys;
  store->list(std::string(layout::kKeys), [&](const store::ObjectInfo& o) { keys.push_back(o.key); });
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
    const bool key3 = extract_field(text, "structure_passphrase").size() > 0;
    if (key3 != (impl->config.version >= 3)) {
      wipe(plain.data(), plain.size());
      throw Error(
          Errc::kIntegrity,
          "key file " + k +
              (key3 ? " is for a repository with a recipient (format 3), but the config is format "
                    : " has no structure passphrase, but the config is format ") +
              std::to_string(impl->config.version),
          "restore the config object from a copy");
    }
    auto dp = extract_field(text, key3 ? "structure_passphrase" : "data_passphrase");
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
    if (key3) {
      auto m = extract_field(text, "mode");
      auto cert = extract_field(text, "recipient");
      if ((m != "full" && m != "write-only") || !is_hex(cert) || cert.empty() || cert.size() % 2) {
        wipe(plain.data(), plain.size());
        throw Error(Errc::kIntegrity, "key file " + k + " opens but its content is damaged",
                    "open the repository with another key");
      }
      impl->mode = m == "full" ? KeyMode::kFull : KeyMode::kWriteOnly;
      std::vector<uint8_t> der(cert.size() / 2);
      for (size_t i = 0; i < der.size(); ++i)
        der[i] = static_cast<uint8_t>(hex_value(cert[2 * i]) << 4 | hex_value(cert[2 * i + 1]));
      impl->set_recipient(der);
      if (crypto::fingerprint_hex(impl->recipient->key().primary().fingerprint) !=
          impl->config.recipient) {
        wipe(plain.data(), plain.size());
        throw Error(Errc::kIntegrity,
                    "key file " + k + " names another recipient key than the repository config (" +
                        impl->config.recipient + ")",
                    "restore the config object from a copy");
      }
    }
    wipe(plain.data(), plain.size());
    impl->key_id = k.substr(layout::kKeys.size());
    if (impl->config.version >= 2) {
      auto raw = store->get(std::string(layout::kConfig));
      std::string mac;
      try {
        mac = nlohmann::json::parse(raw.begin(), raw.end()).value("mac", "");
      } catch (const nlohmann::json::exception&) {
      }
      if (mac != hmac_hex(impl->hmac_key, config_mac_text(impl->config))) {
        throw Error(Errc::kIntegrity,
                    "the settings in the repository config at " + store->location() +
                        " fail their authentication: someone with write access to the store changed them",
                    "restore the config object from a copy; do not back up into this repository until then");
      }
      impl->config_mac = mac;
    }
    impl->store = std::move(store);
    return Repository(std::move(impl));
  }
  throw Error(Errc::kAuth,
              "wrong passphrase: it opens none of the " + std::to_string(keys.size()) +
                  " key files of the repository at " + store->location(),
              "check the passphrase source");
}

bool Repository::upgrade_format() {
  if (impl_->config.version >= kPlainFormatVersion) return false;
  impl_->config.version = kPlainFormatVersion;
  impl_->store->prepare_prefixes(layout::fanout(layout::kPacks));
  impl_->config_mac = hmac_hex(impl_->hmac_key, config_mac_text(impl_->config));
  std::string text = config_json(impl_->config, impl_->config_mac);
  impl_->store->put(std::string(layout::kConfig), bytes_of(text));
  return true;
}

const RepositoryConfig& Repository::config() const { return impl_->config; }
store::ObjectStore& Repository::store() const { return *impl_->store; }
std::string Repository::location() const { return impl_->store->location(); }
std::string Repository::current_key_id() const { return impl_->key_id; }

std::vector<KeyInfo> Repository::list_keys() {
  std::vector<KeyInfo> out;
  impl_->store->list(std::string(layout::kKeys), [&](const store::ObjectInfo& o) {
    auto id = layout::id_in(o.key, layout::kKeys, 32);
    if (!id) return;
    KeyInfo k;
    k.id = *id;
    k.current = k.id == impl_->key_id;
    if (k.current) {
      k.created_utc = impl_->key_created_utc;
      k.hostname = impl_->key_hostname;
    }
    if (!impl_->format3()) k.mode = KeyMode::kFull;
    out.push_back(std::move(k));
  });
  if (impl_->format3()) {
    for (auto& k : out) {
      try {
        auto plain = load(layout::key_info(k.id));
        auto j = nlohmann::json::parse(plain.begin(), plain.end());
        if (j.value("id", "") != k.id) continue;  // an info object copied from another key
        const std::string m = j.value("mode", "");
        if (m == "full") k.mode = KeyMode::kFull;
        if (m == "write-only") k.mode = KeyMode::kWriteOnly;
        if (k.created_utc.empty()) k.created_utc = j.value("created", "");
        if (k.hostname.empty()) k.hostname = j.value("hostname", "");
      } catch (const std::exception&) {
        // No or a damaged info object: the mode stays unknown.
      }
      if (k.current) k.mode = impl_->mode;
    }
  }
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.id < b.id; });
  return out;
}

std::string Repository::add_key(const Secret& passphrase, KeyMode mode) {
  if (mode == KeyMode::kWriteOnly && !impl_->format3()) {
    throw Error(
        Errc::kUsage,
        "a write-only key needs a repository with a recipient; in " + location() +
            " every key reads every backup",
        "create a repository with pvesafe init --recipient PUBLIC_KEY_FILE (docs/format.md)");
  }
  return impl_->write_key(passphrase, false, mode);
}

KeyMode Repository::key_mode() const { return impl_->mode; }

void Repository::require_full_key(const std::string& what) const {
  if (impl_->mode == KeyMode::kFull) return;
  throw Error(Errc::kAuth,
              "key " + impl_->key_id + " is write-only: it backs up into " + location() +
                  " but may not " + what,
              "run this on a restore or admin host with a full key");
}

bool Repository::has_recipient() const { return impl_->recipient.has_value(); }
std::span<const uint8_t> Repository::recipient_cert() const { return impl_->recipient_cert; }

void Repository::set_session_key_provider(std::shared_ptr<crypto::SessionKeyProvider> provider) {
  if (!impl_->format3()) {
    throw Error(
        Errc::kUsage,
        "the repository at " + location() + " has no recipient: its data needs no secret key",
        "drop --secret-key, --gpg-agent and --session-key-command");
  }
  impl_->provider = std::move(provider);
}

bool Repository::can_read_data() const { return !impl_->format3() || impl_->provider != nullptr; }

void Repository::require_data_access(const std::string& what) const {
  if (can_read_data()) return;
  throw Error(
      Errc::kAuth,
      "cannot " + what + ": the data of " + location() + " is encrypted to key " +
          impl_->config.recipient + " and no secret key was given" +
          (impl_->mode == KeyMode::kWriteOnly ? " (key " + impl_->key_id + " is write-only)" : ""),
      "run this where the secret key is: --secret-key FILE, --gpg-agent or --session-key-command "
      "CMD");
}

std::string_view key_mode_name(KeyMode m) { return m == KeyMode::kFull ? "full" : "write-only"; }

void Repository::remove_key(const std::string& prefix) {
  std::vector<std::string> ids;
  for (const auto& k : list_keys()) ids.push_back(k.id);
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
  impl_->store->remove(layout::key_file(match[0]));
  if (impl_->format3()) impl_->store->remove(layout::key_info(match[0]));
}

std::string Repository::change_passphrase(const Secret& new_passphrase) {
  std::string old = impl_->key_id;
  std::string id = impl_->write_key(new_passphrase, true, impl_->mode);
  impl_->store->remove(layout::key_file(old));
  if (impl_->format3()) impl_->store->remove(layout::key_info(old));
  return id;
}

ChunkId Repository::chunk_id(std::span<const uint8_t> plaintext) const {
  ChunkId id;
  unsigned len = 0;
  if (!HMAC(EVP_sha256(), impl_->hmac_key.bytes().data(), static_cast<int>(impl_->hmac_key.size()),
            plaintext.data(), plaintext.size(), id.bytes.data(), &len)) {
    throw Error(Errc::kInternal, "HMAC-SHA-256 failed");
  }
  return id;
}

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

AlignedBuffer Repository::seal_data(std::span<const std::span<const uint8_t>> plaintext) const {
  if (!impl_->recipient) return seal(plaintext);
  AlignedBuffer out;
  size_t n = crypto::encrypt_message_to_into(*impl_->recipient, plaintext, [&](size_t size) {
    out = AlignedBuffer(size);
    return out.data();
  });
  out.shrink(n);
  return out;
}

namespace {
// Whether a message starts with a Public-Key Encrypted Session Key packet (tag 1), in the new
// or the old packet format.
bool starts_with_pkesk(std::span<const uint8_t> m) {
  if (m.empty()) return false;
  const uint8_t b = m[0];
  if ((b & 0xC0) == 0xC0) return (b & 0x3F) == 1;
  if ((b & 0xC0) == 0x80) return ((b >> 2) & 0x0F) == 1;
  return false;
}
}  // namespace

std::vector<uint8_t> Repository::unseal(std::span<const uint8_t> object, const std::string& key,
                                        uint64_t max_bytes) const {
  if (starts_with_pkesk(object)) {
    if (!impl_->provider) {
      throw Error(
          Errc::kAuth,
          "object " + key + " is encrypted to the repository's public key " +
              (impl_->config.recipient.empty() ? std::string("(none configured)")
                                               : impl_->config.recipient) +
              " and this host has no secret key for it" +
              (impl_->mode == KeyMode::kWriteOnly ? " (key " + impl_->key_id + " is write-only)"
                                                  : ""),
          "run this where the secret key is: --secret-key FILE, --gpg-agent or "
          "--session-key-command CMD");
    }
    try {
      return crypto::decrypt_message(object, *impl_->provider, max_bytes);
    } catch (const Error& e) {
      if (e.code() == Errc::kAuth) {
        throw Error(Errc::kAuth,
                    "object " + key + " does not open with the secret key given: " + e.message(),
                    "give the secret key of " + impl_->config.recipient +
                        " (gpg --list-secret-keys shows fingerprints)");
      }
      if (e.code() == Errc::kIntegrity) {
        throw Error(Errc::kIntegrity, "object " + key + " is damaged: " + e.message(),
                    "run pvesafe verify --read-data");
      }
      throw Error(e.code(), "object " + key + ": " + e.message(), e.hint());
    }
  }
  try {
    // Only the shape seal() writes is accepted (one session key packet, one literal data
    // packet, no OpenPGP compression), bounded by what the caller expects.
    return crypto::decrypt_own_message(object, impl_->data_passphrase.view(), max_bytes);
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

AlignedBuffer Repository::seal_text(const std::string& text) const {
  chunk::Compressor compressor(3);
  auto frame = compressor.frame(bytes_of(text));
  return seal(frame.pieces);
}

std::string Repository::unseal_text(std::span<const uint8_t> object, const std::string& key) const {
  auto frame = unseal(object, key);
  ByteBuffer plain;
  try {
    plain = chunk::decompress_frame(frame, 1ull << 31);
  } catch (const Error& e) {
    throw Error(Errc::kIntegrity, "object " + key + " is damaged: " + e.message(), "run pvesafe verify --read-data");
  }
  return std::string(plain.begin(), plain.end());
}

std::vector<SnapshotInfo> Repository::list_snapshots() { return list_snapshots(SnapshotFilter{}); }

std::vector<SnapshotInfo> Repository::list_snapshots(const SnapshotFilter& filter) {
  std::vector<std::string> ids;
  impl_->store->list(std::string(layout::kSnapshots), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kSnapshots, 32)) ids.push_back(*id);
  });
  std::vector<SnapshotInfo> out;
  for (const auto& id : ids) {
    Manifest m = load_manifest(id);
    if (filter.matches(m.info)) out.push_back(std::move(m.info));
  }
  std::sort(out.begin(), out.end(), snapshot_before);
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
  if (!is_hex(s) || s.size() > 32) {
    throw Error(Errc::kUsage, "'" + s + "' is not a snapshot id", "give an id, a unique prefix or latest");
  }
  std::vector<std::string> match;
  impl_->store->list(layout::snapshot(s), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kSnapshots, 32)) match.push_back(*id);
  });
  if (match.empty()) throw Error(Errc::kNotFound, "snapshot " + s + " not found in " + location(), "see pvesafe snapshots");
  if (match.size() > 1) throw Error(Errc::kUsage, "snapshot prefix " + s + " is ambiguous", "give more digits");
  return match[0];
}

Manifest Repository::load_manifest(const std::string& id) {
  std::string key = layout::snapshot(id);
  std::vector<uint8_t> plain;
  try {
    plain = load(key);
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) {
      throw Error(Errc::kNotFound, "snapshot " + id + " not found in " + location(), "see pvesafe snapshots");
    }
    throw;
  }
  Manifest m = manifest_from_json(std::string(plain.begin(), plain.end()), key);
  if (m.info.id != id) {
    throw Error(Errc::kIntegrity, "snapshot " + key + " holds the manifest of snapshot " + m.info.id,
                "someone with write access to the store renamed it; run pvesafe verify");
  }
  return m;
}

void Repository::save_manifest(const Manifest& m) {
  std::string text = manifest_to_json(m);
  save(layout::snapshot(m.info.id), bytes_of(text));
}

void Repository::remove_snapshot(const std::string& id) { impl_->store->remove(layout::snapshot(id)); }

std::vector<store::Retained> Repository::remove_snapshots(const std::vector<std::string>& ids) {
  std::vector<std::string> keys;
  for (const auto& id : ids) keys.push_back(layout::snapshot(id));
  store::ObjectLock* lock = impl_->store->object_lock();
  if (lock && lock->enabled()) return lock->remove_unretained(keys);
  impl_->store->remove_many(keys);
  return {};
}

}  // namespace pvesafe::repo
