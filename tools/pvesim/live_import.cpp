#include "live_import.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "auth.h"
#include "common.h"

namespace pvesim {

namespace {

std::string human(uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", v, u[i]);
  return buf;
}

bool is_disk(const std::string& k) {
  for (const char* p : {"scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"}) {
    std::string s = p;
    if (k.size() > s.size() && k.compare(0, s.size(), s) == 0 &&
        k.find_first_not_of("0123456789", s.size()) == std::string::npos)
      return true;
  }
  return false;
}

}  // namespace

std::string pve_size(uint64_t b) {
  if (b % (1ull << 30) == 0) return std::to_string(b >> 30) + "G";
  if (b % (1ull << 20) == 0) return std::to_string(b >> 20) + "M";
  return std::to_string((b + 1023) >> 10) + "K";
}

std::vector<DiskImport> take_imports(Sim& sim, const Identity& who, Params& params,
                                     bool live_restore) {
  std::vector<DiskImport> out;
  for (auto& [k, v] : params) {
    if (!is_disk(k)) continue;
    auto pos = v.find("import-from=");
    if (pos == std::string::npos) continue;
    DiskImport d;
    d.key = k;
    // The option's value runs to the next comma.
    auto end = v.find(',', pos);
    d.source = v.substr(pos + 12, end == std::string::npos ? std::string::npos : end - pos - 12);
    std::string rest = v.substr(0, pos) + (end == std::string::npos ? "" : v.substr(end + 1));
    while (!rest.empty() && rest.back() == ',') rest.pop_back();
    auto colon = rest.find(':');
    auto comma = rest.find(',');
    std::string size = colon == std::string::npos
                           ? ""
                           : rest.substr(colon + 1, comma == std::string::npos ? std::string::npos
                                                                               : comma - colon - 1);
    if (colon == std::string::npos || size != "0")
      param_error(
          k, "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>");
    d.storage = rest.substr(0, colon);
    Storage* s = sim.storage(d.storage);
    if (!s) param_error(k, "storage '" + d.storage + "' does not exist");
    if (d.source.empty() || d.source[0] != '/') {
      // Volume ids of storages (STORAGE:VMID/NAME) are not modelled: pvesafe passes paths.
      param_error(k, "unable to parse volume ID '" + d.source + "'");
    }
    if (who.user != "root@pam")
      throw ApiError(403, "Only root can pass arbitrary filesystem paths.");
    struct stat st {};
    if (::stat(d.source.c_str(), &st) != 0) fail("can't find file '" + d.source + "'");
    d.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    if (!d.size) fail("could not get file size of " + d.source);
    d.live = live_restore && k.rfind("efidisk", 0) != 0 && k.rfind("tpmstate", 0) != 0;
    v = rest;
    out.push_back(d);
  }
  return out;
}

RestoredDisk run_import(TaskRun& run, const DiskImport& d, double bytes_per_second) {
  int fd = ::open(d.source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("can't open '" + d.source + "' - " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  std::vector<unsigned char> buf(4 << 20);
  const std::string job = d.live ? "restore-" + d.key : "";
  auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  uint64_t done = 0;
  while (done < d.size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), d.size - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw std::runtime_error(
          job.empty() ? "copy failed: reading '" + d.source + "' at " + std::to_string(done) +
                            ": " + (n < 0 ? std::strerror(errno) : "unexpected end of file")
                      : "block job (stream) error: " + job + ": Input/output error");
    }
    if (d.live) {
      // The stream is a block job of the guest's QEMU: it ends when the guest stops.
      auto lk = run.lock();
      Guest* g = run.sim().guest(d.vmid);
      if (!g || g->status != "running")
        throw std::runtime_error("VM " + std::to_string(d.vmid) + " not running");
    }
    EVP_DigestUpdate(md.get(), buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - t0).count();
    if (bytes_per_second > 0) {
      double ahead = static_cast<double>(done) / bytes_per_second - secs;
      if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
    }
    if (now - last >= std::chrono::seconds(1) || done == d.size) {
      last = now;
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.2f",
                    100.0 * static_cast<double>(done) / static_cast<double>(d.size));
      if (!job.empty()) {
        run.log(job + ": transferred " + human(done) + " of " + human(d.size) + " (" + pct +
                "%) in " + std::to_string(static_cast<int>(secs)) + "s");
      } else {
        run.log("transferred " + human(done) + " of " + human(d.size) + " (" + pct + "%)");
      }
    }
  }
  if (!job.empty()) run.log(job + ": stream-job finished");
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned hl = 0;
  EVP_DigestFinal_ex(md.get(), h, &hl);
  static const char* hex = "0123456789abcdef";
  std::string sha;
  for (unsigned i = 0; i < hl; ++i) {
    sha += hex[h[i] >> 4];
    sha += hex[h[i] & 15];
  }
  return RestoredDisk{"drive-" + d.key, d.size, sha};
}

}  // namespace pvesim
