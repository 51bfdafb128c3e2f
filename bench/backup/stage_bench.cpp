// pvesafe-stage-bench: the CPU time each stage of a backup needs for one image, each stage on
// its own on one thread, with pvesafe's own code and settings, and their sum.
//
//   pvesafe-stage-bench IMAGE [RUNS]     (default RUNS 3; the median of each stage is printed)
//
// The sum is a floor: however the stages are spread over threads, a backup of this image cannot
// use less CPU than that, so on N cores it cannot take less wall time than sum / N. Writing the
// stored objects is left out (it would only raise the floor). bench/backup/run.sh and
// bench/s3/run.sh print the floor next to the measured pipelines.
//
// Stages: read, chunk, chunk-id, compress, seal (the data path), then two the format asks for
// once per pack and once per run: pack naming (a pack's name is the SHA-256 of its bytes, so a
// copy can be checked without the key) and unlock (the repository key is opened with the
// passphrase through OpenPGP's strongest iterated S2K, as gpg does for a passphrase).
//
// Output, one line per stage and totals, for scripts:
//   stage NAME CPU_SECONDS MB_PER_S_OF_IMAGE
//   chunks COUNT sealed_bytes BYTES
//   data_path CPU_SECONDS     the five data-path stages (this tool's floor until 2026-12-05)
//   floor CPU_SECONDS         every stage
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "chunk/chunker.h"
#include "chunk/compress.h"
#include "crypto/openpgp.h"
#include "repo/repository.h"

namespace {

using namespace pvesafe;

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median_cpu(int runs, const std::function<void()>& stage) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const double t0 = thread_cpu();
    stage();
    t.push_back(thread_cpu() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "pvesafe-stage-bench: %s\n", msg.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) die("usage: pvesafe-stage-bench IMAGE [RUNS]");
  const int runs = argc == 3 ? std::max(1, std::atoi(argv[2])) : 3;
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(std::string("cannot open ") + argv[1]);
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) die("the image is empty");
  std::vector<uint8_t> image(static_cast<size_t>(size));

  // Reading, as the backup does: read(2) from the page cache into memory mapped already (the
  // backup reads into blocks it uses again). One read before the clock starts maps the buffer
  // and fills the page cache.
  constexpr size_t kBlock = 17 << 20;
  auto read_all = [&] {
    for (size_t off = 0; off < image.size();) {
      const ssize_t n = ::pread(fd, image.data() + off, std::min(kBlock, image.size() - off),
                                static_cast<off_t>(off));
      if (n <= 0) die("read failed");
      off += static_cast<size_t>(n);
    }
  };
  read_all();
  const double read_s = median_cpu(runs, read_all);
  ::close(fd);

  // Fixed keys: the work does not depend on their values.
  const std::vector<uint8_t> gear_seed(32, 0x5a), hmac_key(32, 0xa5);
  const std::string data_passphrase(64, 'k');
  // The chunk sizes a new repository uses: per-chunk costs (a compression frame, an OpenPGP
  // message, an HMAC) count as often as in a real backup.
  const repo::ChunkerParams cp;
  const chunk::Chunker chunker(chunk::make_gear_table(gear_seed),
                               chunk::ChunkLimits{cp.min_size_bytes, cp.avg_size_bytes, cp.max_size_bytes});

  std::vector<std::span<const uint8_t>> chunks;
  const double chunk_s = median_cpu(runs, [&] {
    chunks.clear();
    for (size_t off = 0; off < image.size();) {
      const size_t n = chunker.next_boundary(image.data() + off, image.size() - off, true);
      chunks.emplace_back(image.data() + off, n);
      off += n;
    }
  });

  const double id_s = median_cpu(runs, [&] {
    uint8_t mac[32];
    unsigned len = 0;
    for (auto c : chunks) {
      if (!HMAC(EVP_sha256(), hmac_key.data(), static_cast<int>(hmac_key.size()), c.data(), c.size(),
                mac, &len)) {
        die("HMAC-SHA-256 failed");
      }
    }
  });

  chunk::Compressor compressor(1);
  const double compress_s = median_cpu(runs, [&] {
    for (auto c : chunks) compressor.frame(c);
  });
  // The plaintext of the next stage (not timed).
  std::vector<std::vector<uint8_t>> frames;
  for (auto c : chunks) frames.push_back(compressor.frame(c).join());

  // Sealed into pack-sized buffers, as packing lays them out (the next stage hashes them).
  // The buffers are made and touched before the clock starts, as a long backup reuses its own.
  const size_t pack_bytes = repo::RepositoryConfig{}.pack_bytes;
  size_t frame_bytes = 0;
  for (const auto& f : frames) frame_bytes += f.size() + 256;  // + OpenPGP framing
  std::vector<std::vector<uint8_t>> packs(frame_bytes / pack_bytes + 2,
                                          std::vector<uint8_t>(pack_bytes + (1 << 20)));
  std::vector<size_t> pack_used;
  uint64_t sealed_bytes = 0;
  const double seal_s = median_cpu(runs, [&] {
    pack_used.assign(1, 0);
    sealed_bytes = 0;
    for (const auto& f : frames) {
      const std::span<const uint8_t> piece(f);
      if (pack_used.back() >= pack_bytes) pack_used.push_back(0);
      auto& pack = packs[pack_used.size() - 1];
      size_t& used = pack_used.back();
      const size_t n = crypto::encrypt_message_into(
          std::span<const std::span<const uint8_t>>(&piece, 1), data_passphrase,
          crypto::S2kStrength::kFast, [&](size_t want) {
            if (used + want > pack.size()) die("a pack buffer is too small");
            return pack.data() + used;
          });
      used += n;
      sealed_bytes += n;
    }
  });

  const double name_s = median_cpu(runs, [&] {
    uint8_t digest[32];
    for (size_t i = 0; i < pack_used.size(); ++i) {
      if (!EVP_Digest(packs[i].data(), pack_used[i], digest, nullptr, EVP_sha256(), nullptr))
        die("SHA-256 failed");
    }
  });

  const auto key_message = crypto::encrypt_message(std::vector<uint8_t>(64, 1), "a passphrase",
                                                   crypto::S2kStrength::kStrong);
  const double unlock_s =
      median_cpu(runs, [&] { crypto::decrypt_message(key_message, "a passphrase"); });

  const double mb = static_cast<double>(image.size()) / 1e6;
  auto line = [&](const char* name, double s) { std::printf("stage %s %.3f %.0f\n", name, s, mb / s); };
  line("read", read_s);
  line("chunk", chunk_s);
  line("chunk-id", id_s);
  line("compress", compress_s);
  line("seal", seal_s);
  line("name", name_s);
  line("unlock", unlock_s);
  std::printf("chunks %zu sealed_bytes %llu\n", chunks.size(), static_cast<unsigned long long>(sealed_bytes));
  const double data_path = read_s + chunk_s + id_s + compress_s + seal_s;
  std::printf("data_path %.3f\n", data_path);
  std::printf("floor %.3f\n", data_path + name_s + unlock_s);
  return 0;
}
