// Public-key encryption of objects: keys (openpgp_key.h), the writer (recipient.h), the reader
// with its session key providers (session_key.h, secret_key_provider.h,
// session_key_command.h). Fixtures in tests/crypto/data were made by gpg 2.2
// (make_fixtures.sh there); gpg's own fingerprints and session keys are the expected values.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/secret.h"
#include "crypto/armor.h"
#include "crypto/cert.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/openpgp_key.h"
#include "crypto/openssl_keys.h"
#include "crypto/pkesk.h"
#include "crypto/recipient.h"
#include "crypto/secret_key_provider.h"
#include "crypto/session_key.h"
#include "crypto/session_key_command.h"

namespace pvesafe::crypto {
namespace {

using Bytes = std::vector<uint8_t>;
const Secret kFixturePass("pvesafe fixture");
// 2025-06-01: after the fixtures were made (2024-01-01), after the expired ones expired
// (2020-12-31), before anything else expires (nothing else does).
constexpr std::time_t kNow = 1748736000;

Bytes fixture(const std::string& name) {
  std::ifstream in(std::string(PVESAFE_SOURCE_DIR) + "/tests/crypto/data/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// name -> fingerprints gpg printed (primary first, then encryption subkeys).
std::map<std::string, std::vector<std::string>> gpg_fingerprints() {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(
      std::string(reinterpret_cast<const char*>(fixture("fingerprints.txt").data()),
                  fixture("fingerprints.txt").size()));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string name, fpr;
    words >> name;
    while (words >> fpr) out[name].push_back(fpr);
  }
  return out;
}

// file -> "ALGO:HEX" gpg printed with --show-session-key.
std::map<std::string, std::string> gpg_session_keys() {
  std::map<std::string, std::string> out;
  Bytes b = fixture("session_keys.txt");
  std::istringstream in(std::string(b.begin(), b.end()));
  std::string file, key;
  while (in >> file >> key) out[file] = key;
  return out;
}

Errc error_of(const std::function<void()>& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (what != nullptr) *what = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no pvesafe::Error thrown";
  return Errc::kInternal;
}

Bytes pattern(size_t n, uint32_t seed = 7) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : b) {
    x = x * 1103515245u + 12345u;
    c = static_cast<uint8_t>(x >> 24);
  }
  return b;
}

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

PublicKey cv_public() { return load_public_key(fixture("gpg_cv25519.pub.asc"), kNow); }
PublicKey rsa_public() { return load_public_key(fixture("gpg_rsa3072.pub.gpg"), kNow); }
SecretKey cv_secret() { return load_secret_key(fixture("gpg_cv25519.sec.asc"), kFixturePass); }
SecretKey rsa_secret() { return load_secret_key(fixture("gpg_rsa3072.sec.gpg"), Secret()); }

// The ephemeral X25519 value in a PKESK v3 ECDH packet written by pvesafe (new-format header
// with a one-octet length): header 2, version 1, key id 8, algorithm 1, MPI length 2, 0x40.
Bytes ephemeral_of(const Bytes& msg) { return Bytes(msg.begin() + 15, msg.begin() + 47); }

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "pvesafe-pubkey-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---- armor ---------------------------------------------------------------------------------

TEST(Armor, Crc24) {
  EXPECT_EQ(detail::crc24({}), 0xB704CEu);
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_NE(detail::crc24(abc), detail::crc24({}));
}

TEST(Armor, DecodesGpgOutputAndChecksItsCrc) {
  Bytes text = fixture("gpg_cv25519.pub.asc");
  ASSERT_TRUE(detail::looks_armored(text));
  auto blocks = detail::dearmor(text);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].label, "PUBLIC KEY BLOCK");
  EXPECT_EQ(blocks[0].data[0] & 0xC0, 0x80);  // a packet header: the public key packet
  // CR LF line ends and text around the block are accepted.
  std::string s(text.begin(), text.end()), crlf = "Key pasted from a mail:\r\n";
  for (char c : s) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  crlf += "-- \r\nsignature\r\n";
  auto again = detail::dearmor(Bytes(crlf.begin(), crlf.end()));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(std::equal(again[0].data.span().begin(), again[0].data.span().end(),
                         blocks[0].data.span().begin(), blocks[0].data.span().end()));
  // One base64 character changed: the CRC-24 no longer matches.
  std::string bad = s;
  size_t body = bad.find("\n\n") + 2;
  bad[body + 10] = bad[body + 10] == 'A' ? 'B' : 'A';
  std::string what;
  EXPECT_EQ(error_of([&] { detail::dearmor(Bytes(bad.begin(), bad.end())); }, &what),
            Errc::kIntegrity);
  EXPECT_NE(what.find("CRC-24"), std::string::npos) << what;
  // No END line.
  std::string cut = s.substr(0, s.find("-----END"));
  EXPECT_EQ(error_of([&] { detail::dearmor(Bytes(cut.begin(), cut.end())); }), Errc::kIntegrity);
}

// ---- public keys ---------------------------------------------------------------------------

TEST(PublicKey, FingerprintsAndEncryptionKeyMatchGpg) {
  auto fprs = gpg_fingerprints();
  PublicKey cv = cv_public();
  EXPECT_EQ(fingerprint_hex(cv.primary().fingerprint), fprs["cv"][0]);
  EXPECT_EQ(fingerprint_hex(cv.encryption_key().fingerprint), fprs["cv"][1]);
  EXPECT_EQ(key_id_hex(cv.encryption_key().key_id), fprs["cv"][1].substr(24));
  EXPECT_EQ(cv.encryption_key().algorithm, 18);
  EXPECT_EQ(cv.encryption_key().algorithm_name, "cv25519");
  EXPECT_EQ(cv.primary().algorithm_name, "ed25519");
  EXPECT_EQ(cv.encryption_key().created, 1704067200);  // 2024-01-01, gpg's faked time
  EXPECT_EQ(cv.encryption_key().expires, 0);
  ASSERT_EQ(cv.user_ids().size(), 1u);
  EXPECT_EQ(cv.user_ids()[0], "Fixture CV <cv@fixture.example>");

  PublicKey rsa = rsa_public();  // binary, not armored
  EXPECT_EQ(fingerprint_hex(rsa.primary().fingerprint), fprs["rsa"][0]);
  EXPECT_EQ(fingerprint_hex(rsa.encryption_key().fingerprint), fprs["rsa"][1]);
  EXPECT_EQ(rsa.encryption_key().algorithm_name, "rsa3072");
  // packets(): the certificate as binary, loadable again.
  PublicKey again = load_public_key(cv.packets(), kNow);
  EXPECT_EQ(again.encryption_key().fingerprint, cv.encryption_key().fingerprint);
}

TEST(PublicKey, PrefersTheNewestValidEncryptionSubkey) {
  auto fprs = gpg_fingerprints();
  // cv25519 subkey (revoked, superseded) and a newer rsa3072 subkey.
  PublicKey k = load_public_key(fixture("gpg_rotated.pub.asc"), kNow);
  EXPECT_EQ(fingerprint_hex(k.encryption_key().fingerprint), fprs["rotated"][2]);
}

TEST(PublicKey, RefusesRevokedAndExpiredKeysWithTheReason) {
  std::string what;
  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_expired.pub.asc"), kNow); }, &what),
            Errc::kConfig);
  EXPECT_NE(what.find("expired on 2020-12-31"), std::string::npos) << what;
  EXPECT_NE(what.find("quick-set-expire"), std::string::npos) << what;
  // The same key before it expired is fine, and says when it will.
  PublicKey before = load_public_key(fixture("gpg_expired.pub.asc"), 1590000000);
  EXPECT_EQ(before.encryption_key().expires, 1609372800);  // 2020-12-31

  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_subkey_expired.pub.asc"), kNow); }, &what),
            Errc::kConfig);
  EXPECT_NE(what.find("the encryption key FFB86B48089EC3C0"), std::string::npos) << what;
  EXPECT_NE(what.find("expired on 2020-12-31"), std::string::npos) << what;

  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_revoked.pub.asc"), kNow); }, &what),
            Errc::kConfig);
  EXPECT_NE(what.find("was revoked"), std::string::npos) << what;

  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_all_revoked.pub.asc"), kNow); }, &what),
            Errc::kConfig);
  EXPECT_NE(what.find("was revoked"), std::string::npos) << what;
  EXPECT_NE(what.find("no other valid encryption key"), std::string::npos) << what;

  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_sign_only.pub.asc"), kNow); }, &what),
            Errc::kConfig);
  EXPECT_NE(what.find("no encryption subkey"), std::string::npos) << what;

  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_nistp256.pub.asc"), kNow); }, &what),
            Errc::kUnsupported);
  EXPECT_NE(what.find("nistp256"), std::string::npos) << what;
}

TEST(PublicKey, RefusesWhatIsNotOnePublicKey) {
  std::string what;
  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_cv25519.sec.asc"), kNow); }, &what),
            Errc::kUsage);
  EXPECT_NE(what.find("secret key"), std::string::npos) << what;
  Bytes two = fixture("gpg_rsa3072.pub.gpg");
  const PublicKey cv_key = cv_public();
  Bytes cv(cv_key.packets().begin(), cv_key.packets().end());
  two.insert(two.end(), cv.begin(), cv.end());
  EXPECT_EQ(error_of([&] { load_public_key(two, kNow); }, &what), Errc::kUsage);
  EXPECT_NE(what.find("2 keys"), std::string::npos) << what;
  EXPECT_EQ(error_of([&] { load_public_key(fixture("gpg_to_cv.gpg"), kNow); }, &what),
            Errc::kUsage);
  EXPECT_NE(what.find("message"), std::string::npos) << what;
  EXPECT_EQ(error_of([&] { load_public_key(Bytes{}, kNow); }), Errc::kUsage);
  EXPECT_EQ(error_of([&] { load_public_key(pattern(300), kNow); }), Errc::kIntegrity);
}

TEST(PublicKey, AlteredSignaturesAndKeysAreNotTrusted) {
  const PublicKey key = cv_public();
  Bytes cv(key.packets().begin(), key.packets().end());
  // The last packet is the subkey binding signature: damage its signature value. The subkey is
  // then not bound to the key, and there is no other encryption key.
  Bytes bad_binding = cv;
  bad_binding.back() ^= 0x01;
  std::string what;
  EXPECT_EQ(error_of([&] { load_public_key(bad_binding, kNow); }, &what), Errc::kConfig);
  EXPECT_NE(what.find("no encryption subkey"), std::string::npos) << what;
  // The primary key's EdDSA point (after header 2, version 1, time 4, algorithm 1, OID 10, MPI
  // length 2, prefix 1): no self-signature verifies any more.
  Bytes bad_primary = cv;
  bad_primary[2 + 1 + 4 + 1 + 10 + 2 + 1 + 5] ^= 0x40;
  EXPECT_EQ(error_of([&] { load_public_key(bad_primary, kNow); }, &what), Errc::kIntegrity);
  EXPECT_NE(what.find("no valid self-signature"), std::string::npos) << what;
}

// ---- secret keys ---------------------------------------------------------------------------

TEST(SecretKey, UnlocksGpgExportsWithThePassphrase) {
  auto fprs = gpg_fingerprints();
  SecretKey cv = cv_secret();  // S2K usage 254, iterated+salted SHA-1, AES-128 as gpg exports
  ASSERT_EQ(cv.decryption_keys().size(), 1u);  // the signing primary key is not unlocked
  EXPECT_EQ(fingerprint_hex(cv.decryption_keys()[0].fingerprint), fprs["cv"][1]);
  ASSERT_EQ(cv.primaries().size(), 1u);
  EXPECT_EQ(fingerprint_hex(cv.primaries()[0].fingerprint), fprs["cv"][0]);
  SecretKey rsa = rsa_secret();  // unprotected
  ASSERT_EQ(rsa.decryption_keys().size(), 1u);
  EXPECT_EQ(fingerprint_hex(rsa.decryption_keys()[0].fingerprint), fprs["rsa"][1]);

  std::string what;
  EXPECT_EQ(
      error_of([&] { load_secret_key(fixture("gpg_cv25519.sec.asc"), Secret("wrong")); }, &what),
      Errc::kAuth);
  EXPECT_NE(what.find("does not unlock"), std::string::npos) << what;
  EXPECT_EQ(what.find("wrong"), std::string::npos) << "the passphrase must not be echoed";
  EXPECT_EQ(error_of([&] { load_secret_key(fixture("gpg_cv25519.sec.asc"), Secret()); }, &what),
            Errc::kAuth);
  EXPECT_NE(what.find("none was given"), std::string::npos) << what;
  EXPECT_EQ(error_of([&] { load_secret_key(fixture("gpg_cv25519.pub.asc"), Secret()); }),
            Errc::kUsage);
  // Two secret keys in one file (gpg --export-secret-keys of both): both usable.
  Bytes both = fixture("gpg_rsa3072.sec.gpg");
  auto cv_bin = detail::key_data_binary(fixture("gpg_cv25519.sec.asc"));
  both.insert(both.end(), cv_bin.span().begin(), cv_bin.span().end());
  EXPECT_EQ(load_secret_key(both, kFixturePass).decryption_keys().size(), 2u);
}

// ---- decrypting what gpg wrote (known answers) ---------------------------------------------

TEST(PkeskReader, DecryptsGpgMessagesToTheSessionKeyGpgReports) {
  const Bytes plain = fixture("plain.txt");
  auto keys = gpg_session_keys();
  struct Case {
    const char* file;
    SecretKey key;
  } cases[] = {{"gpg_to_cv.gpg", cv_secret()}, {"gpg_to_rsa.gpg", rsa_secret()}};
  for (auto& c : cases) {
    SCOPED_TRACE(c.file);
    Bytes msg = fixture(c.file);
    SecretKeyProvider provider(c.key);
    auto pkesks = pkesk_packets(msg);
    ASSERT_EQ(pkesks.size(), 1u);
    EXPECT_EQ(pkesks[0].key_id, c.key.decryption_keys()[0].key_id);
    auto sk = provider.session_key(pkesks);
    ASSERT_TRUE(sk.has_value());
    EXPECT_EQ(std::string(format_session_key(*sk).view()), keys[c.file]);
    EXPECT_EQ(decrypt_message(msg, provider), plain);
    // gpg's session key alone opens the message too.
    EXPECT_EQ(detail::decrypt_with_session_key(msg, parse_session_key(keys[c.file])), plain);
  }
  // The other key does not open it, and the error names the key the message is for.
  SecretKeyProvider wrong(rsa_secret());
  std::string what;
  EXPECT_EQ(error_of([&] { decrypt_message(fixture("gpg_to_cv.gpg"), wrong); }, &what),
            Errc::kAuth);
  EXPECT_NE(what.find(key_id_hex(cv_secret().decryption_keys()[0].key_id)), std::string::npos)
      << what;
}

// ---- writing -------------------------------------------------------------------------------

TEST(PkeskWriter, MessageLayoutIsPkesk3ThenSeipd1) {
  for (PublicKey key : {cv_public(), rsa_public()}) {
    Recipient to(key);
    Bytes msg = encrypt_message_to(to, pattern(1000));
    ASSERT_GT(msg.size(), 1100u);
    EXPECT_EQ(msg[0], 0xC1);  // new-format PKESK
    auto pkesks = pkesk_packets(msg);
    ASSERT_EQ(pkesks.size(), 1u);
    EXPECT_EQ(pkesks[0].version, 3);
    EXPECT_EQ(pkesks[0].key_id, key.encryption_key().key_id);
    EXPECT_EQ(pkesks[0].algorithm, key.encryption_key().algorithm);
    const size_t seipd = pkesks[0].packet.size();
    EXPECT_EQ(msg[seipd], 0xD2);  // new-format SEIPD
    if (key.encryption_key().algorithm == 18) {
      // 0x40-prefixed point (263 bits) and a 48-octet wrap of the padded 35-octet frame.
      EXPECT_EQ(msg[12], 0x01);
      EXPECT_EQ(msg[13], 0x07);
      EXPECT_EQ(msg[14], 0x40);
      EXPECT_EQ(msg[47], 48);
      EXPECT_EQ(seipd, 2u + 1 + 8 + 1 + 35 + 1 + 48);
    } else {
      EXPECT_LE(seipd, 3u + 1 + 8 + 1 + 2 + 384);
    }
  }
}

TEST(PkeskWriter, RoundTripsEverySizeAndPieces) {
  SecretKeyProvider cv(cv_secret());
  SecretKeyProvider rsa(rsa_secret());
  Recipient to_cv(cv_public());
  Recipient to_rsa(rsa_public());
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{100000}, size_t{1} << 20}) {
    SCOPED_TRACE(n);
    Bytes p = pattern(n, static_cast<uint32_t>(n));
    EXPECT_EQ(decrypt_message(encrypt_message_to(to_cv, p), cv), p);
    EXPECT_EQ(decrypt_message(encrypt_message_to(to_rsa, p, "name.bin"), rsa), p);
  }
  // The "into" form with pieces gives the same plaintext.
  Bytes a = pattern(70000, 1), b = pattern(5, 2), c = pattern(200000, 3);
  std::span<const uint8_t> pieces[] = {a, b, c};
  Bytes out;
  size_t n = encrypt_message_to_into(to_cv, pieces, [&](size_t size) {
    out.resize(size + 100);
    return out.data();
  });
  out.resize(n);
  Bytes all = a;
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  EXPECT_EQ(decrypt_message(out, cv), all);
}

TEST(PkeskWriter, EveryMessageHasItsOwnSessionKey) {
  SecretKeyProvider cv(cv_secret());
  Recipient to(cv_public());
  Bytes m1 = encrypt_message_to(to, pattern(10));
  Bytes m2 = encrypt_message_to(to, pattern(10));
  auto k1 = cv.session_key(pkesk_packets(m1));
  auto k2 = cv.session_key(pkesk_packets(m2));
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(k1->cipher, 9);
  EXPECT_EQ(k1->size, 32);
  EXPECT_NE(std::string(format_session_key(*k1).view()),
            std::string(format_session_key(*k2).view()));
  // Reused ephemeral key, different wrapped session keys.
  EXPECT_EQ(ephemeral_of(m1), ephemeral_of(m2));
  EXPECT_NE(Bytes(m1.begin() + 48, m1.begin() + 96), Bytes(m2.begin() + 48, m2.begin() + 96));
}

TEST(PkeskWriter, EphemeralKeyReuseIsBounded) {
  SecretKeyProvider cv(cv_secret());
  RecipientOptions fresh;
  fresh.ecdh_ephemeral_messages = 1;
  Recipient per_message(cv_public(), fresh);
  Bytes a = encrypt_message_to(per_message, pattern(10));
  Bytes b = encrypt_message_to(per_message, pattern(10));
  EXPECT_NE(ephemeral_of(a), ephemeral_of(b));
  EXPECT_EQ(decrypt_message(b, cv), pattern(10));

  RecipientOptions two;
  two.ecdh_ephemeral_messages = 2;
  Recipient pairs(cv_public(), two);
  Bytes m1 = encrypt_message_to(pairs, pattern(1));
  Bytes m2 = encrypt_message_to(pairs, pattern(2));
  Bytes m3 = encrypt_message_to(pairs, pattern(3));
  EXPECT_EQ(ephemeral_of(m1), ephemeral_of(m2));
  EXPECT_NE(ephemeral_of(m2), ephemeral_of(m3));
  EXPECT_EQ(decrypt_message(m3, cv), pattern(3));
  // Copies share the state: the next message after m3 still uses m3's ephemeral key.
  Recipient copy = pairs;
  EXPECT_EQ(ephemeral_of(encrypt_message_to(copy, pattern(4))), ephemeral_of(m3));

  RecipientOptions none;
  none.ecdh_ephemeral_messages = 0;
  EXPECT_EQ(error_of([&] { Recipient r(cv_public(), none); }), Errc::kUsage);
}

TEST(PkeskWriter, SharedRecipientAcrossThreads) {
  SecretKeyProvider cv(cv_secret());
  SecretKeyProvider rsa(rsa_secret());
  for (PublicKey key : {cv_public(), rsa_public()}) {
    Recipient to(key);
    SessionKeyProvider& provider = key.encryption_key().algorithm == 18
                                       ? static_cast<SessionKeyProvider&>(cv)
                                       : static_cast<SessionKeyProvider&>(rsa);
    std::vector<std::vector<Bytes>> made(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i)
          made[t].push_back(encrypt_message_to(to, pattern(333, t * 100 + i)));
      });
    }
    for (auto& th : threads) th.join();
    std::vector<std::thread> readers;
    std::vector<int> bad(4, 0);
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          if (decrypt_message(made[t][i], provider) != pattern(333, t * 100 + i)) ++bad[t];
        }
      });
    }
    for (auto& th : readers) th.join();
    EXPECT_EQ(bad, std::vector<int>(4, 0));
  }
}

// ---- reading failures ----------------------------------------------------------------------

TEST(PkeskReader, DamageIsReportedByItsKind) {
  SecretKeyProvider cv(cv_secret());
  Recipient to(cv_public());
  Bytes msg = encrypt_message_to(to, pattern(5000));
  std::string what;
  // A damaged wrapped session key fails the key wrap's check: no key opens the message.
  Bytes bad_wrap = msg;
  bad_wrap[60] ^= 0x01;
  EXPECT_EQ(error_of([&] { decrypt_message(bad_wrap, cv); }, &what), Errc::kAuth);
  // Damaged data fails the MDC.
  Bytes bad_data = msg;
  bad_data[msg.size() - 100] ^= 0x01;
  EXPECT_EQ(error_of([&] { decrypt_message(bad_data, cv); }, &what), Errc::kIntegrity);
  // Truncated.
  Bytes cut(msg.begin(), msg.end() - 10);
  EXPECT_EQ(error_of([&] { decrypt_message(cut, cv); }), Errc::kIntegrity);
  // A public-key message and a passphrase reader, and the other way round.
  EXPECT_EQ(error_of([&] { decrypt_message(msg, "passphrase"); }, &what), Errc::kUnsupported);
  EXPECT_NE(what.find("public key"), std::string::npos) << what;
  Bytes sym = encrypt_message(pattern(10), "passphrase", S2kStrength::kFast);
  EXPECT_EQ(error_of([&] { decrypt_message(sym, cv); }, &what), Errc::kUnsupported);
  EXPECT_NE(what.find("passphrase"), std::string::npos) << what;
}

TEST(SessionKeyText, RoundTripsAndRefusesNonsense) {
  SessionKey k = parse_session_key(" 9:" + std::string(64, 'a') + "\n");
  EXPECT_EQ(k.cipher, 9);
  EXPECT_EQ(k.size, 32);
  EXPECT_EQ(k.key[0], 0xAA);
  EXPECT_EQ(std::string(format_session_key(k).view()), "9:" + std::string(64, 'A'));
  EXPECT_EQ(parse_session_key("7:" + std::string(32, '0')).size, 16);
  EXPECT_EQ(error_of([] { parse_session_key("9:abc"); }), Errc::kIntegrity);
  EXPECT_EQ(error_of([] { parse_session_key("x:00"); }), Errc::kIntegrity);
  EXPECT_EQ(error_of([] { parse_session_key("9:" + std::string(64, 'g')); }), Errc::kIntegrity);
  EXPECT_EQ(error_of([] { parse_session_key("42:00"); }), Errc::kUnsupported);
}

// ---- the session key command ---------------------------------------------------------------

TEST(SessionKeyCommand, ProtocolPacketsInKeyOut) {
  TempDir dir;
  SecretKeyProvider cv(cv_secret());
  Recipient to(cv_public());
  const Bytes plain = pattern(4321);
  Bytes msg = encrypt_message_to(to, plain);
  auto pkesks = pkesk_packets(msg);
  std::string key(format_session_key(*cv.session_key(pkesks)).view());

  // The command sees exactly the PKESK packets on stdin and prints the key.
  SessionKeyCommand good("cat > '" + dir.file("stdin") + "'; echo " + key);
  EXPECT_EQ(decrypt_message(msg, good), plain);
  std::ifstream in(dir.file("stdin"), std::ios::binary);
  Bytes seen((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(seen, Bytes(pkesks[0].packet.begin(), pkesks[0].packet.end()));

  std::string what;
  SessionKeyCommand fails("cat >/dev/null; exit 3");
  EXPECT_EQ(error_of([&] { decrypt_message(msg, fails); }, &what), Errc::kAuth);
  EXPECT_NE(what.find("exit status 3"), std::string::npos) << what;
  SessionKeyCommand silent("cat >/dev/null");
  EXPECT_EQ(error_of([&] { decrypt_message(msg, silent); }, &what), Errc::kAuth);
  EXPECT_NE(what.find(key_id_hex(pkesks[0].key_id)), std::string::npos) << what;
  SessionKeyCommand garbage("echo 9:1234");
  EXPECT_EQ(error_of([&] { decrypt_message(msg, garbage); }, &what), Errc::kAuth);
  EXPECT_EQ(what.find("9:1234"), std::string::npos) << "its output must not be echoed: " << what;
  SessionKeyCommand wrong_key("cat >/dev/null; echo 9:" + std::string(64, '5'));
  EXPECT_EQ(error_of([&] { decrypt_message(msg, wrong_key); }, &what), Errc::kAuth);
  EXPECT_NE(what.find("does not open"), std::string::npos) << what;
  // A command that does not read its input at all still works (no SIGPIPE reaches us).
  SessionKeyCommand no_read("echo " + key);
  EXPECT_EQ(decrypt_message(msg, no_read), plain);
}

// ---- primitives ----------------------------------------------------------------------------

TEST(X25519, Rfc7748Vectors) {
  // RFC 7748 section 6.1.
  Bytes a_priv = from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  Bytes a_pub = from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  Bytes b_pub = from_hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  Bytes shared = from_hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  auto priv = detail::x25519_private_key(a_priv);
  ASSERT_TRUE(priv);
  uint8_t pub[32];
  detail::x25519_public_of(priv.get(), pub);
  EXPECT_EQ(Bytes(pub, pub + 32), a_pub);
  auto peer = detail::x25519_public_key(b_pub);
  uint8_t out[32];
  ASSERT_TRUE(detail::x25519_agree(priv.get(), peer.get(), out));
  EXPECT_EQ(Bytes(out, out + 32), shared);
}

TEST(SessionKeyFrame, ChecksumAndLength) {
  SessionKey k;
  k.cipher = 9;
  k.size = 32;
  for (int i = 0; i < 32; ++i) k.key[static_cast<size_t>(i)] = static_cast<uint8_t>(0xF0 + i);
  uint8_t frame[35];
  ASSERT_EQ(detail::session_key_frame(k, frame), 35u);
  unsigned sum = 0;
  for (int i = 0; i < 32; ++i) sum += static_cast<uint8_t>(0xF0 + i);
  EXPECT_EQ(frame[33], (sum >> 8) & 0xFF);
  EXPECT_EQ(frame[34], sum & 0xFF);
  SessionKey back;
  EXPECT_TRUE(detail::parse_session_key_frame(std::span(frame, 35), back));
  EXPECT_EQ(back.bytes().size(), 32u);
  frame[34] ^= 1;
  EXPECT_FALSE(detail::parse_session_key_frame(std::span(frame, 35), back));
  EXPECT_FALSE(detail::parse_session_key_frame(std::span(frame, 34), back));
}

}  // namespace
}  // namespace pvesafe::crypto
