#include "archive/input.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "archive/vma.h"
#include "core/error.h"
#include "core/hex.h"
#include "core/sigpipe_guard.h"

extern char** environ;

namespace pvesafe::archive {

namespace {

constexpr size_t kPeekBytes = 256 * 1024;
constexpr size_t kInBuf = 1 << 20;

using Pull = std::function<size_t(uint8_t*, size_t)>;

Error damaged(Compression c, uint64_t at, const std::string& what) {
  return Error(Errc::kIntegrity,
               "the " + compression_name(c) + " stream is damaged near compressed byte " +
                   std::to_string(at) + ": " + what,
               "the archive file is corrupt or truncated; back up the guest again");
}

}  // namespace

std::string compression_name(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return "zstd";
    case Compression::kGzip:
      return "gzip";
    case Compression::kLzo:
      return "lzo";
    case Compression::kNone:
      break;
  }
  return "";
}

Compression detect_compression(std::span<const uint8_t> s) {
  static const uint8_t zstd[4] = {0x28, 0xB5, 0x2F, 0xFD};
  static const uint8_t lzop[9] = {0x89, 'L', 'Z', 'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A};
  if (s.size() >= 4 && std::memcmp(s.data(), zstd, 4) == 0) return Compression::kZstd;
  if (s.size() >= 3 && s[0] == 0x1f && s[1] == 0x8b && s[2] == 8) return Compression::kGzip;
  if (s.size() >= 9 && std::memcmp(s.data(), lzop, 9) == 0) return Compression::kLzo;
  return Compression::kNone;
}

Content detect_content(std::span<const uint8_t> s) {
  if (looks_like_vma(s)) return Content::kVma;
  if (s.size() >= 263 && std::memcmp(s.data() + 257, "ustar", 5) == 0) return Content::kTar;
  return Content::kOther;
}

std::string strip_compression_suffix(const std::string& name) {
  for (const char* suffix : {".zst", ".gz", ".lzo"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      if (base.ends_with(".vma") || base.ends_with(".tar")) return base;
    }
  }
  if (name.size() > 4 && name.ends_with(".tgz")) return name.substr(0, name.size() - 4) + ".tar";
  return name;
}

// ---------------------------------------------------------------------------------------------
// The underlying bytes: the peeked start again, then the rest of the source; counted and, when
// asked, hashed on their way.

struct ArchiveInput::Raw {
  ByteSource& in;
  std::vector<uint8_t> peek;
  size_t peek_pos = 0;
  uint64_t count = 0;
  bool eof = false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha{nullptr, EVP_MD_CTX_free};
  std::string digest;

  explicit Raw(ByteSource& s) : in(s) {}

  void start_hash() {
    sha.reset(EVP_MD_CTX_new());
    if (!sha || !EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr))
      throw Error(Errc::kInternal, "SHA-256 unavailable");
  }

  size_t read(uint8_t* buf, size_t n) {
    size_t got = 0;
    if (peek_pos < peek.size()) {
      got = std::min(n, peek.size() - peek_pos);
      std::memcpy(buf, peek.data() + peek_pos, got);
      peek_pos += got;
      if (peek_pos == peek.size()) std::vector<uint8_t>().swap(peek);
    } else if (!eof) {
      got = in.read(buf, n);
      if (got == 0) eof = true;
    }
    count += got;
    if (sha) {
      if (got > 0) EVP_DigestUpdate(sha.get(), buf, got);
      if (got == 0 && digest.empty()) {
        uint8_t d[32];
        unsigned len = 0;
        EVP_DigestFinal_ex(sha.get(), d, &len);
        digest = to_hex(std::span<const uint8_t>(d, 32));
      }
    }
    return got;
  }
};

// ---------------------------------------------------------------------------------------------

struct ArchiveInput::Decoder {
  virtual ~Decoder() = default;
  // Up to n decompressed bytes; 0 at the end of the stream.
  virtual size_t read(uint8_t* out, size_t n) = 0;
};

namespace {

class ZstdDecoder : public ArchiveInput::Decoder {
 public:
  explicit ZstdDecoder(Pull pull)
      : pull_(std::move(pull)), ctx_(ZSTD_createDCtx(), ZSTD_freeDCtx), buf_(kInBuf) {
    if (!ctx_) throw Error(Errc::kInternal, "zstd: out of memory");
    // vzdump's zstd uses long windows with --long only when asked; allow what zstd -d allows.
    ZSTD_DCtx_setParameter(ctx_.get(), ZSTD_d_windowLogMax, 31);
  }
  size_t read(uint8_t* out, size_t n) override {
    ZSTD_outBuffer o{out, n, 0};
    while (o.pos == 0) {
      if (in_.pos == in_.size) {
        if (eof_) {
          if (last_ != 0)
            throw damaged(Compression::kZstd, consumed_,
                          "the stream ends inside a frame (truncated)");
          return 0;
        }
        size_t got = pull_(buf_.data(), buf_.size());
        if (got == 0) {
          eof_ = true;
          continue;
        }
        in_ = ZSTD_inBuffer{buf_.data(), got, 0};
      }
      const size_t before = in_.pos;
      size_t r = ZSTD_decompressStream(ctx_.get(), &o, &in_);
      consumed_ += in_.pos - before;
      if (ZSTD_isError(r)) throw damaged(Compression::kZstd, consumed_, ZSTD_getErrorName(r));
      last_ = r;
      if (o.pos == 0 && r != 0 && in_.pos == in_.size && eof_) {
        throw damaged(Compression::kZstd, consumed_, "the stream ends inside a frame (truncated)");
      }
    }
    return o.pos;
  }

 private:
  Pull pull_;
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx_;
  std::vector<uint8_t> buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool eof_ = false;
  size_t last_ = 0;
  uint64_t consumed_ = 0;
};

class GzipDecoder : public ArchiveInput::Decoder {
 public:
  explicit GzipDecoder(Pull pull) : pull_(std::move(pull)), buf_(kInBuf) {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK)
      throw Error(Errc::kInternal, "zlib: cannot initialise");
  }
  ~GzipDecoder() override { inflateEnd(&z_); }
  size_t read(uint8_t* out, size_t n) override {
    z_.next_out = out;
    z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    while (z_.avail_out == std::min<size_t>(n, 1u << 30)) {
      if (z_.avail_in == 0) {
        if (eof_) {
          if (in_member_)
            throw damaged(Compression::kGzip, consumed_,
                          "the stream ends inside a member (truncated)");
          return 0;
        }
        size_t got = pull_(buf_.data(), buf_.size());
        if (got == 0) {
          eof_ = true;
          continue;
        }
        z_.next_in = buf_.data();
        z_.avail_in = static_cast<uInt>(got);
      }
      const uInt before = z_.avail_in;
      int r = inflate(&z_, Z_NO_FLUSH);
      consumed_ += before - z_.avail_in;
      if (r == Z_STREAM_END) {
        in_member_ = false;
        inflateReset(&z_);  // concatenated members (gzip -c a b) continue
      } else if (r == Z_OK || r == Z_BUF_ERROR) {
        in_member_ = true;
        if (r == Z_BUF_ERROR && z_.avail_in != 0)
          throw damaged(Compression::kGzip, consumed_, "inflate stalled");
      } else {
        throw damaged(Compression::kGzip, consumed_, z_.msg ? z_.msg : "inflate failed");
      }
    }
    return std::min<size_t>(n, 1u << 30) - z_.avail_out;
  }

 private:
  Pull pull_;
  std::vector<uint8_t> buf_;
  z_stream z_;
  bool eof_ = false, in_member_ = false;
  uint64_t consumed_ = 0;
};

// lzop's container format is decoded by lzop itself (`lzop -dc`), fed from a thread.
class LzopDecoder : public ArchiveInput::Decoder {
 public:
  explicit LzopDecoder(Pull pull) : pull_(std::move(pull)) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      throw Error(Errc::kIo, std::string("cannot create pipes for lzop: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    const char* argv[] = {"lzop", "-dc", nullptr};
    int rc = posix_spawnp(&pid_, "lzop", &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      throw Error(Errc::kUnsupported,
                  "the archive is lzop-compressed and lzop cannot be run: " +
                      std::string(std::strerror(rc)),
                  "install lzop (apt install lzop)");
    }
    to_child_ = in[1];
    from_child_ = out[0];
    err_fd_ = err[0];
    feeder_ = std::thread([this] { feed(); });
  }
  ~LzopDecoder() override {
    stop_ = true;
    if (from_child_ >= 0) ::close(from_child_);
    if (feeder_.joinable()) feeder_.join();
    if (err_fd_ >= 0) ::close(err_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGTERM);
      int st;
      waitpid(pid_, &st, 0);
    }
  }
  size_t read(uint8_t* out, size_t n) override {
    for (;;) {
      ssize_t r = ::read(from_child_, out, n);
      if (r > 0) return static_cast<size_t>(r);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw Error(Errc::kIo, std::string("reading from lzop: ") + std::strerror(errno));
      break;
    }
    if (feeder_.joinable()) feeder_.join();
    if (feed_error_) std::rethrow_exception(feed_error_);
    std::string msg;
    char buf[512];
    ssize_t k;
    while ((k = ::read(err_fd_, buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(k));
    int st = 0;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      throw damaged(Compression::kLzo, fed_, msg.empty() ? "lzop failed" : msg);
    }
    return 0;
  }

 private:
  void feed() {
    SigpipeGuard no_sigpipe;  // lzop may stop reading early; its exit status then says why
    std::vector<uint8_t> buf(kInBuf);
    try {
      for (;;) {
        if (stop_) break;
        size_t got = pull_(buf.data(), buf.size());
        if (got == 0) break;
        size_t off = 0;
        while (off < got) {
          ssize_t w = ::write(to_child_, buf.data() + off, got - off);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) {
            off = got;
            stop_ = true;  // lzop ended early; its exit status tells why
            break;
          }
          off += static_cast<size_t>(w);
          fed_ += static_cast<size_t>(w);
        }
      }
    } catch (...) {
      feed_error_ = std::current_exception();
    }
    ::close(to_child_);
    to_child_ = -1;
  }

  Pull pull_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1, err_fd_ = -1;
  std::thread feeder_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> fed_{0};
  std::exception_ptr feed_error_;
  bool reaped_ = false;
};

std::unique_ptr<ArchiveInput::Decoder> make_decoder(Compression c, Pull pull) {
  switch (c) {
    case Compression::kZstd:
      return std::make_unique<ZstdDecoder>(std::move(pull));
    case Compression::kGzip:
      return std::make_unique<GzipDecoder>(std::move(pull));
    case Compression::kLzo:
      return std::make_unique<LzopDecoder>(std::move(pull));
    case Compression::kNone:
      break;
  }
  return nullptr;
}

}  // namespace

ArchiveInput::ArchiveInput(ByteSource& in, bool decompress)
    : in_(in), raw_(std::make_unique<Raw>(in)) {
  raw_->peek.resize(kPeekBytes);
  size_t got = read_full(in_, raw_->peek.data(), kPeekBytes);
  raw_->peek.resize(got);
  const Compression c = decompress ? detect_compression(raw_->peek) : Compression::kNone;
  if (c == Compression::kNone) {
    content_ = detect_content(raw_->peek);
    return;
  }
  // Decompress the start from the peeked bytes alone, to see what is inside.
  Content inside = Content::kOther;
  try {
    size_t pos = 0;
    const std::vector<uint8_t>& peek = raw_->peek;
    auto probe = make_decoder(c, [&](uint8_t* b, size_t n) {
      size_t k = std::min(n, peek.size() - pos);
      std::memcpy(b, peek.data() + pos, k);
      pos += k;
      return k;
    });
    std::vector<uint8_t> head(4096);
    size_t have = 0;
    while (have < head.size()) {
      size_t k = probe->read(head.data() + have, head.size() - have);
      if (k == 0) break;
      have += k;
    }
    head.resize(have);
    inside = detect_content(head);
  } catch (const Error&) {
    inside = Content::kOther;  // not a stream we can read: keep the bytes as they are
  }
  if (inside == Content::kOther) return;
  compression_ = c;
  content_ = inside;
  raw_->start_hash();
  Raw* raw = raw_.get();
  decoder_ = make_decoder(c, [raw](uint8_t* b, size_t n) { return raw->read(b, n); });
}

ArchiveInput::~ArchiveInput() = default;

size_t ArchiveInput::read(uint8_t* buf, size_t n) {
  if (decoder_) return decoder_->read(buf, n);
  return raw_->read(buf, n);
}

std::string ArchiveInput::name() const {
  return compression_ == Compression::kNone ? in_.name() : strip_compression_suffix(in_.name());
}

std::optional<uint64_t> ArchiveInput::size_hint() const {
  return compression_ == Compression::kNone ? in_.size_hint() : std::nullopt;
}

uint64_t ArchiveInput::received_bytes() const { return raw_->count; }
std::string ArchiveInput::received_sha256() const { return raw_->digest; }

}  // namespace pvesafe::archive
