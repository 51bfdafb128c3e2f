// pvesafe-s3-store-bench: raw ObjectStore throughput against an S3 endpoint, to tell the
// client's cost from the server's: N objects of SIZE bytes put (then got) by THREADS threads.
//
//   pvesafe-s3-store-bench s3://bucket/prefix COUNT SIZE THREADS [-o KEY=VALUE ...]
// Prints wall seconds, MB/s and requests/s for the puts and for the gets.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "store/open_store.h"

int main(int argc, char** argv) {
  using namespace pvesafe;
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s s3://bucket/prefix COUNT SIZE THREADS [-o KEY=VALUE ...]\n", argv[0]);
    return 2;
  }
  std::string url = argv[1];
  int count = std::atoi(argv[2]);
  size_t size = std::strtoull(argv[3], nullptr, 10);
  int threads = std::atoi(argv[4]);
  std::vector<std::string> kv;
  for (int i = 5; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "-o") kv.push_back(argv[i + 1]);
  }
  try {
    auto store = store::open_store(url, store::parse_store_options(kv));
    std::vector<uint8_t> data(size);
    std::mt19937_64 rng(1);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    auto run = [&](bool put) {
      std::atomic<int> next{0};
      auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> ts;
      for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
          for (int i; (i = next++) < count;) {
            std::string key = "bench/" + std::to_string(i);
            if (put) {
              store->put(key, data);
            } else {
              store->get(key);
            }
          }
        });
      }
      for (auto& t : ts) t.join();
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s: %d x %zu bytes, %d threads: %.2f s, %.1f MB/s, %.1f requests/s\n",
                  put ? "put" : "get", count, size, threads, s, count * size / s / 1e6, count / s);
    };
    run(true);
    run(false);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return exit_code(e.code());
  }
  return 0;
}
