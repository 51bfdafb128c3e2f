// In-memory throughput of pvesafe's OpenPGP writer and reader, and of raw AES-256-CFB and SHA-1
// through OpenSSL on the same data for reference. Prints one line per run:
//   <what> wall_s cpu_s
// Usage: pgp_bench FILE RUNS   (run by bench/crypto/bench_openpgp.sh)
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include <time.h>
#include <fstream>
#include <functional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"

namespace {

// Process CPU time (all threads): {user + system, user}.
std::pair<double, double> cpu_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return {sec(ru.ru_utime) + sec(ru.ru_stime), sec(ru.ru_utime)};
}

// CPU time of the calling thread: the critical path when a second thread works alongside, i.e.
// the wall time on a machine with an idle core for it.
double thread_cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void timed(const char* what, const std::function<void()>& f) {
  auto w0 = std::chrono::steady_clock::now();
  auto c0 = cpu_now();
  double t0 = thread_cpu_now();
  f();
  double t1 = thread_cpu_now();
  auto c1 = cpu_now();
  double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::printf("%s %.6f %.6f %.6f %.6f\n", what, w, c1.first - c0.first, c1.second - c0.second,
              t1 - t0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pgp_bench FILE RUNS\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const int runs = std::stoi(argv[2]);
  // A fixed benchmark passphrase; kFast as for repository objects.
  const std::string pass = "benchmark passphrase, not a secret";
  std::vector<uint8_t> scratch(data.size() + 64);
  const uint8_t key[32] = {1, 2, 3};
  const uint8_t iv[16] = {};
  for (int r = 0; r < runs; ++r) {
    timed("openssl-aes256cfb", [&] {
      EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
      EVP_EncryptInit_ex2(c, EVP_aes_256_cfb128(), key, iv, nullptr);
      for (size_t off = 0; off < data.size(); off += 1 << 20) {
        int outl = 0;
        int n = static_cast<int>(std::min<size_t>(1 << 20, data.size() - off));
        EVP_EncryptUpdate(c, scratch.data() + off, &outl, data.data() + off, n);
      }
      EVP_CIPHER_CTX_free(c);
    });
    timed("openssl-sha1", [&] {
      unsigned char md[20];
      unsigned int len = 0;
      EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
    });
  }
  using Hashing = pvesafe::crypto::detail::WriterOptions::Hashing;
  std::vector<uint8_t> msg;
  for (auto [name, hashing] : {std::pair{"pvesafe-encrypt-1thread", Hashing::kSameThread},
                               std::pair{"pvesafe-encrypt", Hashing::kAuto}}) {
    pvesafe::crypto::detail::WriterOptions o;
    o.hashing = hashing;
    for (int r = 0; r < runs; ++r) {
      msg.clear();
      msg.shrink_to_fit();
      timed(name, [&] { msg = pvesafe::crypto::detail::encrypt_message_with(data, pass, o); });
    }
  }
  // Repository-sized objects: the same data as 4 MiB messages.
  constexpr size_t kChunk = 4 << 20;
  for (int r = 0; r < runs; ++r) {
    std::vector<std::vector<uint8_t>> chunks;
    timed("pvesafe-encrypt-4MiB-objects", [&] {
      for (size_t off = 0; off < data.size(); off += kChunk) {
        auto part = std::span(data).subspan(off, std::min(kChunk, data.size() - off));
        chunks.push_back(
            pvesafe::crypto::encrypt_message(part, pass, pvesafe::crypto::S2kStrength::kFast));
      }
    });
    size_t total = 0;
    timed("pvesafe-decrypt-4MiB-objects", [&] {
      for (const auto& c : chunks) total += pvesafe::crypto::decrypt_message(c, pass).size();
    });
    if (total != data.size()) {
      std::fprintf(stderr, "pgp_bench: chunked round trip lost data\n");
      return 1;
    }
  }
  for (int r = 0; r < runs; ++r) {
    std::vector<uint8_t> out;
    timed("pvesafe-decrypt", [&] { out = pvesafe::crypto::decrypt_message(msg, pass); });
    if (out != data) {
      std::fprintf(stderr, "pgp_bench: round trip mismatch\n");
      return 1;
    }
  }
  return 0;
}
