// Cost of public-key encryption of objects (PKESK v3 + SEIPD v1) against today's passphrase
// mode (SKESK v4 + the same SEIPD v1), in memory, on one thread where possible:
//   1. per object: the public-key operation alone (encrypt and decrypt of an empty message,
//      minus the same for SKESK), for every key given; medians of RUNS runs;
//   2. throughput: DATA split into 256 KiB and 2 MiB objects, encrypted and decrypted in each
//      mode, MB/s (10^6 bytes) of plaintext per CPU second of the whole process (the writer's
//      MDC thread included: "per core") and by wall clock;
//   3. the resulting public-key cost per GiB of backup for each object size;
//   4. with PVESAFE_BENCH_GPG=1 (GNUPGHOME holding the secret keys): decrypting one object's
//      session key through gpg-agent (GpgAgentProvider) and through a session key command that
//      runs gpg (SessionKeyCommand), by wall clock, since the work is in other processes.
// Usage: pkesk_bench DATA RUNS NAME=PUBLIC-KEY,SECRET-KEY[,per-object]...   (bench_pkesk.sh)
//   ",per-object": the key is measured per object only, not in the throughput runs.
// Secret key passphrase: first line of the file named by PVESAFE_PGP_KEY_PASSFILE, if set.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/secret.h"
#include "crypto/gpg_agent.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_key.h"
#include "crypto/recipient.h"
#include "crypto/secret_key_provider.h"
#include "crypto/session_key.h"
#include "crypto/session_key_command.h"

namespace {

using Bytes = std::vector<uint8_t>;
using namespace pvesafe::crypto;

Bytes read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot read " + path);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

double process_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double wall() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median over `runs` of the wall seconds per call of f (n calls per run).
double per_call_wall(int runs, int n, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    double t0 = wall();
    for (int i = 0; i < n; ++i) f();
    t.push_back((wall() - t0) / n);
  }
  return median(t);
}

// Median over `runs` of the calling thread's CPU seconds per call of f (n calls per run).
double per_call(int runs, int n, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    double t0 = thread_cpu();
    for (int i = 0; i < n; ++i) f();
    t.push_back((thread_cpu() - t0) / n);
  }
  return median(t);
}

struct Key {
  std::string name;
  bool throughput = true;
  std::unique_ptr<Recipient> reuse;
  std::unique_ptr<Recipient> fresh;
  std::unique_ptr<SecretKeyProvider> secret;
};

struct Mode {
  std::string name;
  std::function<Bytes(std::span<const uint8_t>)> encrypt;
  std::function<Bytes(std::span<const uint8_t>)> decrypt;
  double pk_encrypt_us = 0;  // per object, beyond SKESK
  double pk_decrypt_us = 0;
  bool throughput = true;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: pkesk_bench DATA RUNS NAME=PUBLIC-KEY,SECRET-KEY...\n");
    return 2;
  }
  try {
    const Bytes data = read_all(argv[1]);
    const int runs = std::max(1, std::atoi(argv[2]));
    pvesafe::Secret key_pass;
    if (const char* f = std::getenv("PVESAFE_PGP_KEY_PASSFILE"); f != nullptr && *f) {
      key_pass = pvesafe::read_secret_file(f);
    }
    std::vector<Key> keys;
    for (int i = 3; i < argc; ++i) {
      std::string a = argv[i];
      auto eq = a.find('='), comma = a.find(',');
      if (eq == std::string::npos || comma == std::string::npos)
        throw pvesafe::Error(pvesafe::Errc::kUsage, "bad key argument " + a);
      Key k;
      k.name = a.substr(0, eq);
      std::string sec = a.substr(comma + 1);
      if (auto c2 = sec.find(','); c2 != std::string::npos) {
        k.throughput = sec.substr(c2 + 1) != "per-object";
        sec = sec.substr(0, c2);
      }
      PublicKey pub = load_public_key(read_all(a.substr(eq + 1, comma - eq - 1)));
      k.reuse = std::make_unique<Recipient>(pub);
      RecipientOptions fresh;
      fresh.ecdh_ephemeral_messages = 1;
      k.fresh = std::make_unique<Recipient>(pub, fresh);
      k.secret = std::make_unique<SecretKeyProvider>(load_secret_key(read_all(sec), key_pass));
      keys.push_back(std::move(k));
    }
    const std::string pass = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    // 1. Per object: empty messages.
    const Bytes empty;
    Bytes skesk_msg = encrypt_message(empty, pass, S2kStrength::kFast);
    const int n_fast = 2000, n_slow = 300;
    double skesk_enc =
        per_call(runs, n_fast, [&] { encrypt_message(empty, pass, S2kStrength::kFast); });
    double skesk_dec = per_call(runs, n_fast, [&] { decrypt_message(skesk_msg, pass); });
    std::vector<Mode> modes;
    modes.push_back(
        {"SKESK (passphrase, today)",
         [&](std::span<const uint8_t> p) { return encrypt_message(p, pass, S2kStrength::kFast); },
         [&](std::span<const uint8_t> m) { return decrypt_message(m, pass); }, 0, 0});
    std::printf(
        "Per object, public-key part only (median of %d runs; calling thread's CPU time):\n", runs);
    std::printf("  %-44s %14s %14s\n", "", "encrypt (us)", "decrypt (us)");
    std::printf("  %-44s %14.1f %14.1f   (whole empty message)\n", "SKESK v4, kFast S2K",
                skesk_enc * 1e6, skesk_dec * 1e6);
    for (auto& k : keys) {
      bool ecdh = k.name.find("25519") != std::string::npos;
      Bytes msg = encrypt_message_to(*k.reuse, empty);
      SecretKeyProvider& sp = *k.secret;
      double dec = per_call(runs, ecdh ? n_fast : n_slow, [&] { decrypt_message(msg, sp); });
      double enc_reuse =
          per_call(runs, ecdh ? n_fast : n_slow, [&] { encrypt_message_to(*k.reuse, empty); });
      double pk_dec = dec - skesk_dec;
      if (ecdh) {
        double enc_fresh = per_call(runs, n_fast, [&] { encrypt_message_to(*k.fresh, empty); });
        std::printf("  %-44s %14.1f %14.1f\n", ("PKESK " + k.name + ", fresh ephemeral").c_str(),
                    (enc_fresh - skesk_enc) * 1e6, pk_dec * 1e6);
        std::printf("  %-44s %14.1f %14s\n", ("PKESK " + k.name + ", ephemeral reused").c_str(),
                    (enc_reuse - skesk_enc) * 1e6, "(same)");
        Recipient* fresh = k.fresh.get();
        Recipient* reuse = k.reuse.get();
        modes.push_back(
            {"PKESK " + k.name + " (fresh ephemeral)",
             [fresh](std::span<const uint8_t> p) { return encrypt_message_to(*fresh, p); },
             [&sp](std::span<const uint8_t> m) { return decrypt_message(m, sp); },
             (enc_fresh - skesk_enc) * 1e6, pk_dec * 1e6, k.throughput});
        modes.push_back(
            {"PKESK " + k.name + " (ephemeral reused)",
             [reuse](std::span<const uint8_t> p) { return encrypt_message_to(*reuse, p); },
             [&sp](std::span<const uint8_t> m) { return decrypt_message(m, sp); },
             (enc_reuse - skesk_enc) * 1e6, pk_dec * 1e6, k.throughput});
      } else {
        std::printf("  %-44s %14.1f %14.1f\n", ("PKESK " + k.name).c_str(),
                    (enc_reuse - skesk_enc) * 1e6, pk_dec * 1e6);
        Recipient* reuse = k.reuse.get();
        modes.push_back(
            {"PKESK " + k.name,
             [reuse](std::span<const uint8_t> p) { return encrypt_message_to(*reuse, p); },
             [&sp](std::span<const uint8_t> m) { return decrypt_message(m, sp); },
             (enc_reuse - skesk_enc) * 1e6, pk_dec * 1e6, k.throughput});
      }
    }

    // 2. Throughput on repository-sized objects.
    for (size_t object : {size_t{256} << 10, size_t{2} << 20}) {
      const size_t count = (data.size() + object - 1) / object;
      std::printf("\n%zu KiB objects (%zu of them, %.0f MiB): median MB/s of plaintext\n",
                  object >> 10, count, double(data.size()) / (1 << 20));
      std::printf("  %-44s %12s %12s %12s %12s %10s %10s\n", "", "enc/core", "enc wall", "dec/core",
                  "dec wall", "enc ratio", "dec ratio");
      double base_enc = 0, base_dec = 0;
      for (auto& m : modes) {
        if (!m.throughput) continue;
        std::vector<double> ec, ew, dc, dw;
        for (int r = 0; r < runs; ++r) {
          std::vector<Bytes> objs;
          objs.reserve(count);
          double c0 = process_cpu(), w0 = wall();
          for (size_t off = 0; off < data.size(); off += object) {
            objs.push_back(
                m.encrypt(std::span(data).subspan(off, std::min(object, data.size() - off))));
          }
          double c1 = process_cpu(), w1 = wall();
          size_t total = 0;
          for (const auto& o : objs) total += m.decrypt(o).size();
          double c2 = process_cpu(), w2 = wall();
          if (total != data.size())
            throw pvesafe::Error(pvesafe::Errc::kInternal, "round trip lost data");
          const double mb = double(data.size()) / 1e6;
          ec.push_back(mb / (c1 - c0));
          ew.push_back(mb / (w1 - w0));
          dc.push_back(mb / (c2 - c1));
          dw.push_back(mb / (w2 - w1));
        }
        double e = median(ec), d = median(dc);
        if (base_enc == 0) {
          base_enc = e;
          base_dec = d;
        }
        std::printf("  %-44s %12.0f %12.0f %12.0f %12.0f %10.2f %10.2f\n", m.name.c_str(), e,
                    median(ew), d, median(dw), e / base_enc, d / base_dec);
      }
    }

    // 3. Public-key cost per GiB of backup.
    std::printf(
        "\nPublic-key cost per GiB of backup (objects per GiB x per-object cost above), CPU "
        "seconds:\n");
    std::printf("  %-44s %12s %12s %12s %12s\n", "", "enc 256KiB", "enc 2MiB", "dec 256KiB",
                "dec 2MiB");
    for (const auto& m : modes) {
      if (m.pk_encrypt_us == 0 && m.pk_decrypt_us == 0) continue;
      std::printf("  %-44s %12.3f %12.3f %12.3f %12.3f\n", m.name.c_str(),
                  m.pk_encrypt_us * 4096 * 1e-6, m.pk_encrypt_us * 512 * 1e-6,
                  m.pk_decrypt_us * 4096 * 1e-6, m.pk_decrypt_us * 512 * 1e-6);
    }

    // 4. Through gpg: gpg-agent over its socket, and a gpg process per object.
    if (const char* g = std::getenv("PVESAFE_BENCH_GPG"); g != nullptr && std::string(g) == "1") {
      GpgAgentOptions ao;
      ao.passphrase = key_pass;
      GpgAgentProvider agent(std::move(ao));
      SessionKeyCommand command(
          "{ cat; printf '\\322\\026\\001'; head -c 21 /dev/zero; } | gpg -q --batch "
          "--pinentry-mode loopback --passphrase-file \"$PVESAFE_PGP_KEY_PASSFILE\" --status-fd 3 "
          "--show-session-key -d -o /dev/null 3>&1 >/dev/null 2>&1 | "
          "sed -n 's/^\\[GNUPG:\\] SESSION_KEY //p'");
      std::printf(
          "\nDecrypting one object's session key through gpg (median of %d runs; wall clock):\n",
          runs);
      std::printf("  %-44s %14s %14s\n", "", "gpg-agent (ms)", "gpg cmd (ms)");
      for (auto& k : keys) {
        Bytes msg = encrypt_message_to(*k.reuse, empty);
        double via_agent = per_call_wall(runs, 5, [&] { decrypt_message(msg, agent); });
        double via_command = per_call_wall(runs, 3, [&] { decrypt_message(msg, command); });
        std::printf("  %-44s %14.2f %14.2f\n", ("PKESK " + k.name).c_str(), via_agent * 1e3,
                    via_command * 1e3);
      }
    }
  } catch (const pvesafe::Error& e) {
    std::fprintf(stderr, "pkesk_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
