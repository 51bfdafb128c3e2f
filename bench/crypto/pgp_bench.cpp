// In-memory throughput of pvesafe's OpenPGP writer and reader, and of raw AES-256-CFB and SHA-1
// through OpenSSL on the same data for reference. Prints one line per run:
//   <what> wall_s cpu_s
// Usage: pgp_bench FILE RUNS   (run by bench/crypto/bench_openpgp.sh)
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "crypto/openpgp.h"

namespace {

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void timed(const char* what, const std::function<void()>& f) {
  auto w0 = std::chrono::steady_clock::now();
  double c0 = cpu_now();
  f();
  double c1 = cpu_now();
  double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::printf("%s %.6f %.6f\n", what, w, c1 - c0);
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
  std::vector<uint8_t> msg;
  for (int r = 0; r < runs; ++r) {
    msg.clear();
    msg.shrink_to_fit();
    timed("pvesafe-encrypt", [&] {
      msg = pvesafe::crypto::encrypt_message(data, pass, pvesafe::crypto::S2kStrength::kFast);
    });
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
