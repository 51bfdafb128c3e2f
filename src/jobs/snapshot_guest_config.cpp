#include "jobs/snapshot_guest_config.h"

#include <fmt/format.h>

#include <cstring>

#include "archive/tar.h"
#include "core/error.h"
#include "repo/restore.h"

namespace pvesafe::jobs {

namespace {

// The stream of a snapshot, chunk after chunk, fetched only as far as it is read.
class LazyStreamSource : public ByteSource {
 public:
  explicit LazyStreamSource(repo::SnapshotReader& reader)
      : reader_(reader), chunks_(reader.stream_chunks()) {}
  size_t read(uint8_t* buf, size_t n) override {
    while (pos_ == data_.size()) {
      if (next_ >= chunks_.size()) return 0;
      const auto& c = chunks_[next_++];
      auto id = repo::ChunkId::parse(c.id);
      if (!id) throw Error(Errc::kIntegrity, fmt::format("bad chunk id {}", c.id));
      data_ = reader_.source().fetch(*id, c.size_bytes);
      pos_ = 0;
    }
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  std::string name() const override { return "stream"; }

 private:
  repo::SnapshotReader& reader_;
  std::vector<repo::ChunkRef> chunks_;
  size_t next_ = 0;
  ByteBuffer data_;
  size_t pos_ = 0;
};

}  // namespace

std::string snapshot_guest_config(repo::Repository& repo, const std::string& snapshot_id) {
  repo::SnapshotReader reader(repo, snapshot_id);
  const auto& m = reader.manifest();
  for (const auto& c : m.configs) {
    if (c.name == "qemu-server.conf") {
      auto bytes = reader.config(c);
      return std::string(bytes.begin(), bytes.end());
    }
  }
  if (m.info.kind == "stream") {
    LazyStreamSource src(reader);
    try {
      archive::TarReader tar(src, 1u << 20);
      for (int i = 0; i < 8; ++i) {  // vzdump writes the config first
        auto e = tar.next();
        if (!e) break;
        if (e->path == "etc/vzdump/pct.conf") return e->data;
      }
    } catch (const Error& e) {
      throw Error(Errc::kUnsupported,
                  fmt::format("snapshot {} ({}): cannot read the container config at the head of "
                              "its archive: {}",
                              snapshot_id.substr(0, 8), m.info.file_name, e.message()));
    }
  }
  throw Error(Errc::kUnsupported,
              fmt::format("snapshot {} ({}) carries no guest config", snapshot_id.substr(0, 8),
                          m.info.file_name),
              "it is not a vzdump archive of a guest");
}

}  // namespace pvesafe::jobs
