#include "crypto/gpg_agent.h"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string_view>

#include "core/error.h"
#include "crypto/assuan.h"
#include "crypto/cert.h"
#include "crypto/pkesk.h"
#include "crypto/subprocess.h"

namespace pvesafe::crypto {

namespace {

using namespace detail;

// gpg-error codes (the low 16 bits of an Assuan ERR code).
constexpr unsigned kErrBadPassphrase = 11;
constexpr unsigned kErrNoSecretKey = 17;
constexpr unsigned kErrNoPinentry = 85;
constexpr unsigned kErrCanceled = 99;
constexpr unsigned kErrDecryptFailed = 152;
constexpr unsigned kErrWrongSecretKey = 155;
constexpr unsigned kErrNoPassphrase = 177;
constexpr unsigned kErrFullyCanceled = 198;
constexpr unsigned kSourcePinentry = 5;

struct AgentKey {
  KeyInfo info;
  uint8_t algorithm = 0;
  std::string keygrip;
  EcdhParams ecdh;
};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.emplace_back(
        s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// Canonical S-expression helpers: "<len>:<bytes>".
void put_atom(std::string& s, std::span<const uint8_t> v) {
  s += std::to_string(v.size()) + ":";
  s.append(reinterpret_cast<const char*>(v.data()), v.size());
}

// The value of "(5:value<n>:<bytes>)" in the agent's answer.
std::span<const uint8_t> value_of(const WipedBytes& data) {
  std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  size_t at = s.find("(5:value");
  if (at == std::string_view::npos) return {};
  size_t p = at + 8;
  size_t len = 0;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9')
    len = len * 10 + static_cast<size_t>(s[p++] - '0');
  if (p >= s.size() || s[p] != ':' || s.size() - p - 1 < len) return {};
  return data.span().subspan(p + 1, len);
}

// Strips EME-PKCS1-v1_5 padding (0x00 0x02 nonzero... 0x00 frame), leading zero optional.
std::span<const uint8_t> unpad_pkcs1(std::span<const uint8_t> v) {
  if (!v.empty() && v[0] == 0) v = v.subspan(1);
  if (v.size() < 11 || v[0] != 2) return {};
  size_t i = 1;
  while (i < v.size() && v[i] != 0) ++i;
  if (i < 9 || i == v.size()) return {};
  return v.subspan(i + 1);
}

std::string plus_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ') {
      out += '+';
    } else if (c == '+' || c == '%' || c < 0x20) {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[(static_cast<unsigned char>(c)) >> 4];
      out += hex[c & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

struct GpgAgentProvider::Impl {
  GpgAgentOptions options;
  std::vector<std::string> env;
  std::string socket;
  std::vector<AgentKey> keys;
  std::vector<KeyInfo> infos;
  std::mutex mu;
  std::vector<std::unique_ptr<AssuanConnection>> idle;
  // The first decryption with a key runs alone: the agent looks in its passphrase cache before it
  // asks (pinentry or loopback), so parallel first requests would each ask for the passphrase.
  std::mutex unlock_mu;
  std::set<std::string> unlocked;  // keygrips that decrypted once

  ProcessResult run(std::vector<std::string> argv, const char* what) {
    ProcessResult r = run_process(argv, {}, ProcessOptions{env, true, 64 << 20});
    if (r.status != 0) {
      std::string err = r.err.substr(0, r.err.find('\n'));
      throw Error(Errc::kConfig,
                  std::string(what) + " failed (exit status " + std::to_string(r.status) + ")" +
                      (err.empty() ? "" : ": " + err),
                  "check GnuPG (gpg --list-secret-keys) and GNUPGHOME");
    }
    return r;
  }

  std::vector<std::string> gpg_args() const {
    std::vector<std::string> a = {options.gpg, "--batch", "--no-tty", "--quiet"};
    if (!options.gnupg_home.empty()) {
      a.push_back("--homedir");
      a.push_back(options.gnupg_home);
    }
    return a;
  }

  void discover() {
    if (!options.gnupg_home.empty()) env.push_back("GNUPGHOME=" + options.gnupg_home);
    ProcessResult dirs =
        run({options.gpgconf, "--list-dirs", "agent-socket"}, "gpgconf --list-dirs");
    socket.assign(reinterpret_cast<const char*>(dirs.out.data()), dirs.out.size());
    while (!socket.empty() && (socket.back() == '\n' || socket.back() == '\r')) socket.pop_back();
    if (socket.empty()) throw Error(Errc::kConfig, "gpgconf names no gpg-agent socket");

    // Keygrips of the keys whose secret the agent has (field 15 "#": not available).
    auto list = gpg_args();
    for (const char* a : {"--with-colons", "--with-keygrip", "--list-secret-keys"})
      list.push_back(a);
    ProcessResult listed = run(list, "gpg --list-secret-keys");
    std::string_view text(reinterpret_cast<const char*>(listed.out.data()), listed.out.size());
    std::map<std::string, std::string> grip_of_fpr;
    std::vector<std::string> primaries;
    bool available = false;
    bool is_primary = false;
    std::string fpr;
    for (const auto& line : split(text, '\n')) {
      auto f = split(line, ':');
      if (f.empty()) continue;
      if (f[0] == "sec" || f[0] == "ssb") {
        available = f.size() > 14 && f[14] != "#";
        is_primary = f[0] == "sec";
        fpr.clear();
      } else if (f[0] == "fpr" && f.size() > 9 && fpr.empty()) {
        fpr = f[9];
        if (is_primary) primaries.push_back(fpr);
      } else if (f[0] == "grp" && f.size() > 9 && available && !fpr.empty()) {
        grip_of_fpr[fpr] = f[9];
      }
    }
    if (!primaries.empty()) {
      auto exp = gpg_args();
      exp.push_back("--export");
      exp.insert(exp.end(), primaries.begin(), primaries.end());
      ProcessResult exported = run(exp, "gpg --export");
      for (const Cert& c : parse_certs(exported.out.span())) {
        std::vector<const KeyPacket*> packets = {&c.primary};
        for (const auto& s : c.subkeys) packets.push_back(&s.key);
        for (const KeyPacket* k : packets) {
          auto it = grip_of_fpr.find(fingerprint_hex(k->fingerprint));
          if (it == grip_of_fpr.end() || !k->pvesafe_can_encrypt()) continue;
          AgentKey ak;
          ak.info = key_info(*k, 0);
          ak.algorithm = k->algorithm;
          ak.keygrip = it->second;
          if (k->algorithm == kPkEcdh) {
            ak.ecdh = ecdh_params_of(*k);
            check_ecdh_params(ak.ecdh);
          }
          infos.push_back(ak.info);
          keys.push_back(std::move(ak));
        }
      }
    }
    if (keys.empty()) {
      throw Error(Errc::kConfig,
                  "gpg has no secret RSA or Curve25519 encryption key" +
                      (options.gnupg_home.empty() ? std::string() : " in " + options.gnupg_home),
                  "import the secret key (gpg --import KEY) on this host, or plug in its "
                  "smartcard and run gpg --card-status");
    }
  }

  std::unique_ptr<AssuanConnection> connect() {
    std::unique_ptr<AssuanConnection> c;
    try {
      c = std::make_unique<AssuanConnection>(socket);
    } catch (const Error&) {
      run({options.gpgconf, "--launch", "gpg-agent"}, "gpgconf --launch gpg-agent");
      c = std::make_unique<AssuanConnection>(socket);
    }
    // What gpg tells the agent, so pinentry appears where the user is.
    std::string tty;
    if (const char* t = std::getenv("GPG_TTY"); t != nullptr && *t) {
      tty = t;
    } else if (isatty(0)) {
      if (const char* t0 = ttyname(0)) tty = t0;
    }
    if (!tty.empty()) c->transact("OPTION ttyname=" + tty);
    if (const char* t = std::getenv("TERM"); t != nullptr && *t)
      c->transact(std::string("OPTION ttytype=") + t);
    if (const char* d = std::getenv("DISPLAY"); d != nullptr && *d)
      c->transact(std::string("OPTION display=") + d);
    if (!options.passphrase.empty()) {
      AssuanReply r = c->transact("OPTION pinentry-mode=loopback");
      if (!r.ok) {
        throw Error(Errc::kConfig, "gpg-agent refuses loopback pinentry: " + r.error_text,
                    "add allow-loopback-pinentry to gpg-agent.conf, or let its pinentry ask");
      }
    }
    return c;
  }

  std::unique_ptr<AssuanConnection> acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    return connect();
  }

  void release(std::unique_ptr<AssuanConnection> c) {
    if (!c || !c->usable()) return;
    std::lock_guard lock(mu);
    idle.push_back(std::move(c));
  }

  // One PKDECRYPT; nullopt when the agent says this key does not open the packet.
  std::optional<SessionKey> decrypt(AssuanConnection& c, const AgentKey& k, const PkeskFields& f) {
    AssuanReply r = c.transact("SETKEY " + k.keygrip);
    if (!r.ok) return fail(k, r);
    c.transact("SETKEYDESC " +
               plus_escape("pvesafe needs the secret key " + key_id_hex(k.info.key_id) +
                           " to decrypt backup objects."));
    std::string sexp = "(7:enc-val";
    if (k.algorithm == kPkEcdh) {
      std::vector<uint8_t> s;
      s.push_back(static_cast<uint8_t>(f.wrapped.size()));
      s.insert(s.end(), f.wrapped.begin(), f.wrapped.end());
      sexp += "(4:ecdh(1:s";
      put_atom(sexp, s);
      sexp += ")(1:e";
      put_atom(sexp, f.ephemeral);
      sexp += "))";
    } else {
      std::vector<uint8_t> a;
      if (!f.rsa_c.empty() && (f.rsa_c[0] & 0x80)) a.push_back(0);  // a positive integer
      a.insert(a.end(), f.rsa_c.begin(), f.rsa_c.end());
      sexp += "(5:flags5:pkcs1)(3:rsa(1:a";
      put_atom(sexp, a);
      sexp += "))";
    }
    sexp += ")";
    int passphrase_asked = 0;
    auto inquire = [&](std::string_view keyword, WipedBytes& answer) {
      if (keyword == "CIPHERTEXT") {
        answer = WipedBytes(std::span(reinterpret_cast<const uint8_t*>(sexp.data()), sexp.size()));
        return true;
      }
      if (keyword == "PASSPHRASE" && !options.passphrase.empty() && passphrase_asked++ == 0) {
        answer = WipedBytes(options.passphrase.bytes());
        return true;
      }
      if (keyword == "PINENTRY_LAUNCHED") {
        answer = WipedBytes();
        return true;
      }
      return false;
    };
    r = c.transact("PKDECRYPT", inquire);
    if (!r.ok) return fail(k, r);
    std::span<const uint8_t> v = value_of(r.data);
    SessionKey sk;
    if (k.algorithm == kPkEcdh) {
      if (v.size() == 33 && v[0] == 0x40) v = v.subspan(1);
      if (v.size() != 32) return std::nullopt;
      if (!ecdh_session_key_from_shared(k.ecdh, std::span<const uint8_t, 32>(v.data(), 32), f,
                                        sk)) {
        return std::nullopt;
      }
      return sk;
    }
    // With (flags pkcs1) libgcrypt returns the frame itself; an agent that returns the padded
    // block instead is handled too.
    std::span<const uint8_t> frame = v;
    while (!frame.empty() && frame[0] == 0) frame = frame.subspan(1);
    if (parse_session_key_frame(frame, sk)) return sk;
    frame = unpad_pkcs1(v);
    if (!parse_session_key_frame(frame, sk)) return std::nullopt;
    return sk;
  }

  std::optional<SessionKey> fail(const AgentKey& k, const AssuanReply& r) {
    // Errors from pinentry (source 5): it could not ask, e.g. no terminal.
    const unsigned code = (r.error >> 24) == kSourcePinentry ? kErrNoPinentry : r.error & 0xFFFF;
    switch (code) {
      case kErrNoSecretKey:
      case kErrDecryptFailed:
      case kErrWrongSecretKey:
        return std::nullopt;
      case kErrBadPassphrase:
      case kErrNoPinentry:
      case kErrCanceled:
      case kErrFullyCanceled:
      case kErrNoPassphrase:
        throw Error(Errc::kAuth,
                    "gpg-agent could not unlock secret key " + key_id_hex(k.info.key_id) + ": " +
                        r.error_text,
                    options.passphrase.empty()
                        ? "unlock it where pinentry can ask (set GPG_TTY), or give its passphrase"
                        : "check the passphrase of the secret key");
      default:
        throw Error(Errc::kRemote,
                    "gpg-agent refused to decrypt with key " + key_id_hex(k.info.key_id) + ": " +
                        r.error_text + " (code " + std::to_string(r.error) + ")",
                    "run gpg --decrypt on one object to see what gpg-agent needs");
    }
    return std::nullopt;  // not reached
  }
};

GpgAgentProvider::GpgAgentProvider(GpgAgentOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->discover();
}

GpgAgentProvider::~GpgAgentProvider() = default;

const std::vector<KeyInfo>& GpgAgentProvider::keys() const { return impl_->infos; }

std::optional<SessionKey> GpgAgentProvider::session_key(std::span<const PkeskPacket> packets) {
  for (const PkeskPacket& p : packets) {
    PkeskFields f;
    try {
      f = parse_pkesk(p.body);
    } catch (const Error& e) {
      if (e.code() != Errc::kUnsupported) throw;
      continue;
    }
    for (const AgentKey& k : impl_->keys) {
      const bool algo_fits =
          k.algorithm == kPkEcdh ? f.algorithm == kPkEcdh : f.algorithm != kPkEcdh;
      if (!algo_fits || (f.key_id != 0 && f.key_id != k.info.key_id)) continue;
      std::unique_lock first(impl_->unlock_mu);
      if (impl_->unlocked.count(k.keygrip)) first.unlock();
      std::unique_ptr<AssuanConnection> c = impl_->acquire();
      std::optional<SessionKey> sk;
      try {
        sk = impl_->decrypt(*c, k, f);
      } catch (...) {
        impl_->release(std::move(c));
        throw;
      }
      impl_->release(std::move(c));
      if (sk && first.owns_lock()) impl_->unlocked.insert(k.keygrip);
      if (sk) return sk;
    }
  }
  return std::nullopt;
}

}  // namespace pvesafe::crypto
