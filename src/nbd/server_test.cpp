// nbd::Server against a client written here from the protocol spec (byte for byte, so each
// test can also send what libnbd and QEMU never would). The interoperability tests with
// libnbd's and QEMU's own clients are in tests/nbd/.
#include "nbd/server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "core/faulty_block_source.h"
#include "nbd/protocol.h"

namespace pvesafe::nbd {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pvesafe-nbd-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A disk image: 4 MiB of data, 8 MiB hole, 1 MiB data, 3 MiB hole, then 1000 bytes (a last
// partial block). Data bytes are a function of the offset, so any read can be checked.
uint8_t pattern(uint64_t off) { return static_cast<uint8_t>((off * 2654435761u) >> 13) | 1; }

constexpr uint64_t kImageSize = (16u << 20) + 1000;

void write_image(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  auto fill = [&](uint64_t off, uint64_t len) {
    std::vector<uint8_t> b(len);
    for (uint64_t i = 0; i < len; ++i) b[i] = pattern(off + i);
    ASSERT_EQ(::pwrite(fd, b.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
  };
  fill(0, 4u << 20);
  fill(12u << 20, 1u << 20);
  fill(16u << 20, 1000);
  ::close(fd);
}

uint8_t expected(uint64_t off) {
  const bool data =
      off < (4u << 20) || (off >= (12u << 20) && off < (13u << 20)) || off >= (16u << 20);
  return data ? pattern(off) : 0;
}

struct OptReply {
  uint32_t option = 0, type = 0;
  std::vector<uint8_t> data;
};

struct Reply {
  uint64_t handle = 0;
  uint32_t error = 0;
  std::vector<uint8_t> data;  // reassembled read data (zeros for holes)
  std::vector<uint16_t> chunk_types;
  std::vector<std::pair<uint32_t, uint32_t>> extents;  // block status
};

class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    ::close(fd_);
  }
  bool connected() const { return connected_; }

  void send(const std::vector<uint8_t>& b) {
    if (ssl_) {
      ASSERT_EQ(SSL_write(ssl_, b.data(), static_cast<int>(b.size())), static_cast<int>(b.size()));
      return;
    }
    ASSERT_EQ(::send(fd_, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
  }
  // false at EOF
  bool recv(uint8_t* p, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ssl_ ? SSL_read(ssl_, p + got, static_cast<int>(n - got))
                       : ::recv(fd_, p + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  // After NBD_OPT_STARTTLS was acknowledged: the client side of the TLS handshake.
  bool start_tls(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }
  std::vector<uint8_t> recv(size_t n) {
    std::vector<uint8_t> b(n);
    EXPECT_TRUE(recv(b.data(), n));
    return b;
  }

  uint16_t greet(uint32_t flags = kClientFixedNewstyle | kClientNoZeroes) {
    auto g = recv(18);
    EXPECT_EQ(get_u64(g.data()), kInitPasswd);
    EXPECT_EQ(get_u64(g.data() + 8), kIHaveOpt);
    std::vector<uint8_t> f;
    put_u32(f, flags);
    send(f);
    return get_u16(g.data() + 16);
  }
  void option(uint32_t opt, const std::vector<uint8_t>& data = {}) {
    std::vector<uint8_t> b;
    put_u64(b, kIHaveOpt);
    put_u32(b, opt);
    put_u32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    send(b);
  }
  // Sends an option without asserting that the send succeeds.
  void try_option(uint32_t opt, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> b;
    put_u64(b, kIHaveOpt);
    put_u32(b, opt);
    put_u32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    if (ssl_) {
      SSL_write(ssl_, b.data(), static_cast<int>(b.size()));
    } else {
      ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
    }
  }
  OptReply option_reply() {
    OptReply r;
    auto h = recv(20);
    EXPECT_EQ(get_u64(h.data()), kOptReplyMagic);
    r.option = get_u32(h.data() + 8);
    r.type = get_u32(h.data() + 12);
    r.data = recv(get_u32(h.data() + 16));
    return r;
  }
  static std::vector<uint8_t> go_data(const std::string& name, std::vector<uint16_t> infos = {}) {
    std::vector<uint8_t> d;
    put_u32(d, static_cast<uint32_t>(name.size()));
    put_bytes(d, name);
    put_u16(d, static_cast<uint16_t>(infos.size()));
    for (auto i : infos) put_u16(d, i);
    return d;
  }
  // Fixed newstyle, optionally structured replies and base:allocation, then NBD_OPT_GO.
  // Returns the export size.
  uint64_t connect_export(bool structured, bool meta, const std::string& name = "",
                          bool greet_first = true) {
    if (greet_first) greet();
    if (structured) {
      option(kOptStructuredReply);
      EXPECT_EQ(option_reply().type, kRepAck);
      structured_ = true;
    }
    if (meta) {
      std::vector<uint8_t> d;
      put_u32(d, static_cast<uint32_t>(name.size()));
      put_bytes(d, name);
      put_u32(d, 1);
      put_u32(d, 15);
      put_bytes(d, kMetaBaseAllocation);
      option(kOptSetMetaContext, d);
      auto r = option_reply();
      EXPECT_EQ(r.type, kRepMetaContext);
      EXPECT_EQ(std::string(r.data.begin() + 4, r.data.end()), kMetaBaseAllocation);
      EXPECT_EQ(option_reply().type, kRepAck);
    }
    option(kOptGo, go_data(name, {kInfoBlockSize}));
    uint64_t size = 0;
    for (;;) {
      auto r = option_reply();
      if (r.type == kRepAck) break;
      EXPECT_EQ(r.type, kRepInfo);
      if (get_u16(r.data.data()) == kInfoExport) {
        size = get_u64(r.data.data() + 2);
        flags_ = get_u16(r.data.data() + 10);
      }
    }
    return size;
  }
  uint16_t flags() const { return flags_; }

  void request(uint16_t type, uint64_t handle, uint64_t offset, uint32_t length,
               uint16_t flags = 0) {
    std::vector<uint8_t> b;
    put_u32(b, kRequestMagic);
    put_u16(b, flags);
    put_u16(b, type);
    put_u64(b, handle);
    put_u64(b, offset);
    put_u32(b, length);
    send(b);
    if (type == kCmdRead) pending_[handle] = {offset, length};
  }
  // Reads one complete reply (all chunks of one handle; chunks of different handles are not
  // interleaved by this server, which writes each reply as one message).
  Reply reply() {
    Reply out;
    for (;;) {
      uint8_t m[4];
      if (!recv(m, 4)) {
        ADD_FAILURE() << "connection closed while waiting for a reply";
        return out;
      }
      if (get_u32(m) == kSimpleReplyMagic) {
        auto h = recv(12);
        out.error = get_u32(h.data());
        out.handle = get_u64(h.data() + 4);
        auto it = pending_.find(out.handle);
        if (it != pending_.end()) {
          if (out.error == 0) out.data = recv(it->second.second);
          pending_.erase(it);
        }
        return out;
      }
      EXPECT_EQ(get_u32(m), kStructuredReplyMagic);
      auto h = recv(16);
      uint16_t flags = get_u16(h.data());
      uint16_t type = get_u16(h.data() + 2);
      out.handle = get_u64(h.data() + 4);
      auto payload = recv(get_u32(h.data() + 12));
      out.chunk_types.push_back(type);
      auto it = pending_.find(out.handle);
      if (it != pending_.end() && out.data.empty()) out.data.assign(it->second.second, 0xEE);
      const uint64_t base = it != pending_.end() ? it->second.first : 0;
      if (type == kReplyTypeOffsetData) {
        uint64_t off = get_u64(payload.data());
        std::copy(payload.begin() + 8, payload.end(),
                  out.data.begin() + static_cast<long>(off - base));
      } else if (type == kReplyTypeOffsetHole) {
        uint64_t off = get_u64(payload.data());
        uint32_t len = get_u32(payload.data() + 8);
        std::fill_n(out.data.begin() + static_cast<long>(off - base), len, 0);
      } else if (type == kReplyTypeBlockStatus) {
        for (size_t i = 4; i + 8 <= payload.size(); i += 8) {
          out.extents.emplace_back(get_u32(payload.data() + i), get_u32(payload.data() + i + 4));
        }
      } else if (type & 0x8000) {
        out.error = get_u32(payload.data());
      }
      if (flags & kReplyFlagDone) {
        if (it != pending_.end()) pending_.erase(it);
        if (out.error) out.data.clear();
        return out;
      }
    }
  }
  bool at_eof() {
    uint8_t b;
    return ssl_ ? SSL_read(ssl_, &b, 1) <= 0 : ::recv(fd_, &b, 1, 0) <= 0;
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  bool structured_ = false;
  uint16_t flags_ = 0;
  std::map<uint64_t, std::pair<uint64_t, uint32_t>> pending_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = dir_ / "disk.raw";
    write_image(image_);
    socket_ = dir_ / "nbd.sock";
  }
  void serve(std::shared_ptr<BlockSource> src, ServerOptions opt = {}) {
    server_ = std::make_unique<Server>(std::move(src), opt);
    server_->start(Listener::unix_socket(socket_));
  }
  void check(const Reply& r, uint64_t offset, uint32_t length) {
    ASSERT_EQ(r.error, 0u);
    ASSERT_EQ(r.data.size(), length);
    for (uint32_t i = 0; i < length; ++i) {
      if (r.data[i] != expected(offset + i)) {
        FAIL() << "byte " << offset + i << " is " << int(r.data[i]) << ", expected "
               << int(expected(offset + i));
      }
    }
  }

  TempDir dir_;
  std::string image_, socket_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, SimpleRepliesReadStraddlingBoundariesAndTheLastPartialBlock) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client c(socket_);
  ASSERT_EQ(c.connect_export(false, false), kImageSize);
  EXPECT_TRUE(c.flags() & kFlagReadOnly);
  EXPECT_TRUE(c.flags() & kFlagCanMultiConn);
  EXPECT_FALSE(c.flags() & kFlagSendDf);  // DF only with structured replies
  struct R {
    uint64_t off;
    uint32_t len;
  } reads[] = {{0, 512},
               {65536 - 100, 200},          // across a 64 KiB boundary
               {262144 - 4096, 8192},       // across 256 KiB
               {(4u << 20) - 300, 600},     // data into the hole
               {(12u << 20) - 1000, 5000},  // hole into data
               {kImageSize - 1000, 1000},   // the last partial block
               {kImageSize - 1, 1}};
  uint64_t h = 1;
  for (auto r : reads) c.request(kCmdRead, h++, r.off, r.len);
  std::map<uint64_t, Reply> got;
  for (size_t i = 0; i < std::size(reads); ++i) {
    auto r = c.reply();
    got[r.handle] = r;
  }
  h = 1;
  for (auto r : reads) check(got[h++], r.off, r.len);
}

TEST_F(ServerTest, StructuredReadsSendHolesAsHoles) {
  auto src = std::make_shared<FileBlockSource>(image_);
  serve(src);
  Client c(socket_);
  c.connect_export(true, false);
  EXPECT_TRUE(c.flags() & kFlagSendDf);
  // 2 MiB across the data/hole edge: one data chunk and one hole chunk.
  c.request(kCmdRead, 7, (4u << 20) - (1u << 20), 2u << 20);
  auto r = c.reply();
  check(r, (4u << 20) - (1u << 20), 2u << 20);
  EXPECT_NE(std::find(r.chunk_types.begin(), r.chunk_types.end(), kReplyTypeOffsetHole),
            r.chunk_types.end());
  // Entirely in the hole: nothing read from the file.
  uint64_t before = src->fetched_bytes();
  c.request(kCmdRead, 8, 6u << 20, 1u << 20);
  r = c.reply();
  check(r, 6u << 20, 1u << 20);
  EXPECT_EQ(r.chunk_types, std::vector<uint16_t>{kReplyTypeOffsetHole});
  EXPECT_EQ(src->fetched_bytes(), before);
  // Don't fragment: one data chunk, zeros included.
  c.request(kCmdRead, 9, (4u << 20) - 100, 65536, kCmdFlagDf);
  r = c.reply();
  check(r, (4u << 20) - 100, 65536);
  EXPECT_EQ(r.chunk_types, std::vector<uint16_t>{kReplyTypeOffsetData});
  auto stats = server_->stats();
  EXPECT_EQ(stats.read_requests, 3u);
  EXPECT_GE(stats.hole_bytes, (1u << 20) + (1u << 20));
}

TEST_F(ServerTest, BlockStatusReportsTheZeroRegions) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client c(socket_);
  c.connect_export(true, true);
  c.request(kCmdBlockStatus, 1, 0, 16u << 20);
  auto r = c.reply();
  ASSERT_EQ(r.error, 0u);
  std::vector<std::pair<uint32_t, uint32_t>> want = {{4u << 20, 0},
                                                     {8u << 20, kStateHole | kStateZero},
                                                     {1u << 20, 0},
                                                     {3u << 20, kStateHole | kStateZero}};
  EXPECT_EQ(r.extents, want);
  c.request(kCmdBlockStatus, 2, 5u << 20, 1u << 20, kCmdFlagReqOne);
  r = c.reply();
  ASSERT_EQ(r.extents.size(), 1u);
  EXPECT_EQ(r.extents[0].second, kStateHole | kStateZero);
  // Beyond the end: EINVAL.
  c.request(kCmdBlockStatus, 3, kImageSize - 10, 20);
  EXPECT_EQ(c.reply().error, kEINVAL);
}

TEST_F(ServerTest, BlockStatusWithoutAContextIsRefused) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client c(socket_);
  c.connect_export(true, false);
  c.request(kCmdBlockStatus, 1, 0, 4096);
  EXPECT_EQ(c.reply().error, kEINVAL);
}

TEST_F(ServerTest, AFailingRangeFailsOnlyTheReadsThatTouchIt) {
  auto faulty = std::make_shared<FaultyBlockSource>(std::make_shared<FileBlockSource>(image_));
  faulty->fail_range(1u << 20, 65536, Errc::kIntegrity);
  serve(faulty);
  for (bool structured : {false, true}) {
    Client c(socket_);
    c.connect_export(structured, false);
    // Pipelined: the failing read sits between two good ones.
    c.request(kCmdRead, 1, 0, 65536);
    c.request(kCmdRead, 2, (1u << 20) + 4096, 4096);
    c.request(kCmdRead, 3, (1u << 20) + 65536, 65536);
    c.request(kCmdRead, 4, (1u << 20) - 512, 1024);  // overlaps the start of the bad range
    std::map<uint64_t, Reply> got;
    for (int i = 0; i < 4; ++i) {
      auto r = c.reply();
      got[r.handle] = r;
    }
    check(got[1], 0, 65536);
    EXPECT_EQ(got[2].error, kEIO);
    EXPECT_TRUE(got[2].data.empty());
    check(got[3], (1u << 20) + 65536, 65536);
    EXPECT_EQ(got[4].error, kEIO);
    // The connection goes on.
    c.request(kCmdRead, 5, 12u << 20, 4096);
    check(c.reply(), 12u << 20, 4096);
  }
  auto s = server_->stats();
  EXPECT_EQ(s.failed_reads, 4u);
  ASSERT_TRUE(s.last_failure_code.has_value());
  EXPECT_EQ(*s.last_failure_code, Errc::kIntegrity);
}

TEST_F(ServerTest, WritesAreRefusedAndBadRequestsAreInvalid) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client c(socket_);
  c.connect_export(false, false);
  std::vector<uint8_t> w;
  put_u32(w, kRequestMagic);
  put_u16(w, 0);
  put_u16(w, kCmdWrite);
  put_u64(w, 11);
  put_u64(w, 0);
  put_u32(w, 4096);
  w.resize(w.size() + 4096, 0x55);
  c.send(w);
  auto r = c.reply();
  EXPECT_EQ(r.handle, 11u);
  EXPECT_EQ(r.error, kEPERM);
  c.request(kCmdTrim, 12, 0, 4096);
  EXPECT_EQ(c.reply().error, kEPERM);
  c.request(42, 13, 0, 4096);
  EXPECT_EQ(c.reply().error, kEINVAL);
  c.request(kCmdRead, 14, kImageSize - 10, 11);
  EXPECT_EQ(c.reply().error, kEINVAL);
  c.request(kCmdRead, 15, 0, 64u << 20);  // over the advertised maximum
  EXPECT_EQ(c.reply().error, kEINVAL);
  c.request(kCmdFlush, 16, 0, 0);
  EXPECT_EQ(c.reply().error, 0u);
  // The image is untouched and the connection still serves.
  c.request(kCmdRead, 17, 0, 4096);
  check(c.reply(), 0, 4096);
  c.request(kCmdDisc, 18, 0, 0);
  EXPECT_TRUE(c.at_eof());
}

TEST_F(ServerTest, OptionHaggling) {
  ServerOptions opt;
  opt.export_name = "drive-scsi0";
  serve(std::make_shared<FileBlockSource>(image_), opt);
  Client c(socket_);
  uint16_t hs = c.greet();
  EXPECT_TRUE(hs & kFlagFixedNewstyle);
  c.option(kOptList);
  auto r = c.option_reply();
  EXPECT_EQ(r.type, kRepServer);
  EXPECT_EQ(std::string(r.data.begin() + 4, r.data.begin() + 4 + get_u32(r.data.data())),
            "drive-scsi0");
  EXPECT_EQ(c.option_reply().type, kRepAck);
  c.option(kOptInfo, Client::go_data("other"));
  EXPECT_EQ(c.option_reply().type, kRepErrUnknown);
  c.option(kOptInfo, Client::go_data("drive-scsi0", {kInfoName, kInfoDescription}));
  bool saw_name = false;
  for (;;) {
    r = c.option_reply();
    if (r.type == kRepAck) break;
    ASSERT_EQ(r.type, kRepInfo);
    if (get_u16(r.data.data()) == kInfoName) {
      saw_name = std::string(r.data.begin() + 2, r.data.end()) == "drive-scsi0";
    }
  }
  EXPECT_TRUE(saw_name);
  c.option(kOptStartTls);
  EXPECT_EQ(c.option_reply().type, kRepErrPolicy);
  c.option(99, {1, 2, 3});
  EXPECT_EQ(c.option_reply().type, kRepErrUnsup);
  c.option(kOptListMetaContext, {0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(c.option_reply().type, kRepErrInvalid);  // needs structured replies first
  c.option(kOptGo, {0, 0, 0, 5});                    // truncated
  EXPECT_EQ(c.option_reply().type, kRepErrInvalid);
  c.option(kOptAbort);
  EXPECT_EQ(c.option_reply().type, kRepAck);
  EXPECT_TRUE(c.at_eof());
}

TEST_F(ServerTest, ExportNameOptionEntersTransmission) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client c(socket_);
  c.greet(kClientFixedNewstyle);  // without NO_ZEROES: 124 zero bytes follow
  c.option(kOptExportName);
  auto r = c.recv(8 + 2 + 124);
  EXPECT_EQ(get_u64(r.data()), kImageSize);
  c.request(kCmdRead, 1, 100, 100);
  check(c.reply(), 100, 100);

  Client bad(socket_);
  bad.greet();
  bad.option(kOptExportName, {'x'});
  EXPECT_TRUE(bad.at_eof());  // no way to answer an error: the session ends
}

TEST_F(ServerTest, ManyConnectionsReadInParallel) {
  ServerOptions opt;
  opt.threads = 4;
  auto faulty = std::make_shared<FaultyBlockSource>(std::make_shared<FileBlockSource>(image_));
  faulty->set_latency(std::chrono::microseconds(300));
  serve(faulty, opt);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      Client c(socket_);
      c.connect_export(t % 2 == 0, false);
      std::mt19937_64 rng(t);
      std::map<uint64_t, std::pair<uint64_t, uint32_t>> asked;
      for (uint64_t h = 0; h < 64; ++h) {
        uint32_t len = 1 + static_cast<uint32_t>(rng() % (300 * 1024));
        uint64_t off = rng() % (kImageSize - len);
        asked[h] = {off, len};
        c.request(kCmdRead, h, off, len);
      }
      for (int i = 0; i < 64; ++i) {
        auto r = c.reply();
        auto [off, len] = asked[r.handle];
        if (r.error || r.data.size() != len) {
          bad++;
          continue;
        }
        for (uint32_t k = 0; k < len; ++k) {
          if (r.data[k] != expected(off + k)) {
            bad++;
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(server_->stats().read_requests, 6u * 64);
}

TEST_F(ServerTest, StopEndsEveryConnection) {
  serve(std::make_shared<FileBlockSource>(image_));
  Client idle(socket_);
  idle.connect_export(true, false);
  Client haggling(socket_);
  haggling.greet();
  Client silent(socket_);  // never says a word
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->stats().connections_open, 3u);
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  EXPECT_TRUE(idle.at_eof());
  EXPECT_TRUE(haggling.at_eof());
  EXPECT_FALSE(fs::exists(socket_));  // the socket file goes with the server
  Client late(socket_);
  EXPECT_FALSE(late.connected());
}

TEST_F(ServerTest, UnixSocketIsOwnerOnlyAndNeverReplacesAFile) {
  serve(std::make_shared<FileBlockSource>(image_));
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second server on the same live socket is refused.
  try {
    Listener::unix_socket(socket_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUsage);
  }
  // A regular file is never deleted to make room.
  std::string file = dir_ / "precious";
  { std::ofstream(file) << "keep me"; }
  EXPECT_THROW(Listener::unix_socket(file), Error);
  EXPECT_TRUE(fs::exists(file));
}

TEST(Listener, RemoteAddressesNeedConsentAndTls) {
  try {
    Listener::tcp("0.0.0.0:0", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUsage);
  }
  auto loop = Listener::tcp("127.0.0.1:0", false);
  EXPECT_FALSE(loop.remote());
  EXPECT_GT(loop.port(), 0);
  auto any = Listener::tcp("0.0.0.0:0", true);
  EXPECT_TRUE(any.remote());
  TempDir d;
  { std::ofstream(d / "img") << "x"; }
  Server s(std::make_shared<FileBlockSource>(d / "img"), {});
  try {
    s.start(std::move(any));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUsage);
  }
  EXPECT_THROW(Listener::tcp("localhost", false), Error);
  EXPECT_THROW(Listener::tcp("127.0.0.1:99999", false), Error);
}

// A CA and certificates it signs, written as PEM files.
class Pki {
 public:
  explicit Pki(const TempDir& dir) : dir_(dir) {}
  ~Pki() {
    for (auto* k : keys_) EVP_PKEY_free(k);
    for (auto* c : certs_) X509_free(c);
  }
  // A self-signed CA (issuer null) or a leaf signed by `issuer`; writes NAME-cert.pem,
  // NAME-key.pem.
  X509* make(const std::string& name, X509* issuer, EVP_PKEY* issuer_key, EVP_PKEY** key_out) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(++serial_));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints,
                                              issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    FILE* f = std::fopen((dir_ / (name + "-cert.pem")).c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen((dir_ / (name + "-key.pem")).c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    keys_.push_back(key);
    certs_.push_back(x);
    *key_out = key;
    return x;
  }
  std::string cert(const std::string& name) const { return dir_ / (name + "-cert.pem"); }
  std::string key(const std::string& name) const { return dir_ / (name + "-key.pem"); }

 private:
  const TempDir& dir_;
  std::vector<EVP_PKEY*> keys_;
  std::vector<X509*> certs_;
  int serial_ = 0;
};

TEST_F(ServerTest, TlsIsRequiredAndClientsMustPresentACertificateFromTheCa) {
  // The client below writes with OpenSSL (write(), no MSG_NOSIGNAL) to a server that may have
  // hung up on it: a broken pipe must be an error here, not the end of the test binary.
  std::signal(SIGPIPE, SIG_IGN);
  Pki pki(dir_);
  EVP_PKEY *ca_key, *rogue_key, *k;
  X509* ca = pki.make("ca", nullptr, nullptr, &ca_key);
  pki.make("server", ca, ca_key, &k);
  pki.make("client", ca, ca_key, &k);
  X509* rogue = pki.make("rogue", nullptr, nullptr, &rogue_key);
  pki.make("intruder", rogue, rogue_key, &k);
  ServerOptions opt;
  opt.tls = std::make_shared<TlsContext>(
      TlsOptions{pki.cert("server"), pki.key("server"), pki.cert("ca")});
  serve(std::make_shared<FileBlockSource>(image_), opt);

  auto client_ctx = [&](const std::string& who) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the server is the one under test
    if (!who.empty()) {
      SSL_CTX_use_certificate_file(ctx, pki.cert(who).c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx, pki.key(who).c_str(), SSL_FILETYPE_PEM);
    }
    return std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>(ctx, SSL_CTX_free);
  };

  // Plain text: every option but STARTTLS is refused; EXPORT_NAME ends the session.
  {
    Client c(socket_);
    c.greet();
    c.option(kOptList);
    EXPECT_EQ(c.option_reply().type, kRepErrTlsReqd);
    c.option(kOptGo, Client::go_data(""));
    EXPECT_EQ(c.option_reply().type, kRepErrTlsReqd);
    c.option(kOptExportName);
    EXPECT_TRUE(c.at_eof());
  }
  // Without a client certificate, or with one from another CA: no NBD reply ever comes.
  for (const std::string who : {"", "intruder"}) {
    auto ctx = client_ctx(who);
    Client c(socket_);
    c.greet();
    c.option(kOptStartTls);
    ASSERT_EQ(c.option_reply().type, kRepAck);
    if (c.start_tls(ctx.get())) {  // TLS 1.3: the refusal arrives after the client's handshake
      c.try_option(kOptGo, Client::go_data(""));  // may fail: the server may have closed already
      EXPECT_TRUE(c.at_eof()) << who;
    }
  }
  // With the CA's client certificate: negotiation and reads over TLS, and STARTTLS only once.
  auto ctx = client_ctx("client");
  Client c(socket_);
  c.greet();
  c.option(kOptStartTls);
  ASSERT_EQ(c.option_reply().type, kRepAck);
  ASSERT_TRUE(c.start_tls(ctx.get()));
  c.option(kOptStartTls);
  EXPECT_EQ(c.option_reply().type, kRepErrInvalid);
  ASSERT_EQ(c.connect_export(true, true, "", false), kImageSize);
  c.request(kCmdRead, 1, (4u << 20) - 1000, 1u << 20);
  check(c.reply(), (4u << 20) - 1000, 1u << 20);
  c.request(kCmdBlockStatus, 2, 0, 16u << 20);
  EXPECT_EQ(c.reply().extents.size(), 4u);
  c.request(kCmdDisc, 3, 0, 0);
  EXPECT_TRUE(c.at_eof());
}

}  // namespace
}  // namespace pvesafe::nbd
