#include "content.h"

#include <array>
#include <cstring>

namespace pvesim {

namespace {

constexpr size_t B = kBlockSize;

// Word lists. Text drawn from them word by word has about the entropy of real configuration
// files and logs, so zstd and gzip compress it about as much (3-6x), unlike a repeated pool.
constexpr const char* kWords[64] = {
    "the ",     "server ",  "listen ", "port ",    "user ",       "group ",   "enable ",
    "disable ", "timeout ", "max ",    "min ",     "path ",       "file ",    "log ",
    "level ",   "info ",    "debug ",  "error ",   "warn ",       "cache ",   "size ",
    "default ", "include ", "host ",   "address ", "interface ",  "network ", "route ",
    "allow ",   "deny ",    "from ",   "to ",      "any ",        "local ",   "remote ",
    "key ",     "value ",   "option ", "section ", "module ",     "load ",    "start ",
    "stop ",    "restart ", "daemon ", "service ", "socket ",     "buffer ",  "limit ",
    "worker ",  "process ", "thread ", "pool ",    "connection ", "request ", "response ",
    "header ",  "body ",    "= ",      "yes\n",    "no\n",        "on\n",     "off\n",
    "{\n"};
constexpr const char* kProcs[16] = {
    "systemd[1]: ", "sshd[",          "CRON[",           "kernel: ",     "nginx[",
    "postgres[",    "dhclient[",      "systemd-logind[", "rsyslogd[",    "pvedaemon[",
    "app[",         "postfix/smtpd[", "chronyd[",        "dbus-daemon[", "systemd-journald[",
    "su["};
constexpr const char* kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// The words padded to 16 bytes, with their lengths: put_words copies 16 bytes at a time and
// advances by the length, so callers render into a buffer with kSlack bytes to spare.
constexpr size_t kSlack = 512;
struct Word {
  char s[16];
  size_t len;
};
const std::array<Word, 64>& words() {
  static const std::array<Word, 64> table = [] {
    std::array<Word, 64> t{};
    for (size_t k = 0; k < 64; ++k) {
      t[k].len = std::strlen(kWords[k]);
      std::memcpy(t[k].s, kWords[k], t[k].len);
    }
    return t;
  }();
  return table;
}

// Words until at least `end`, eight per random draw (may write up to 8 words and 16 bytes past
// `end`); returns the position reached.
size_t put_words(unsigned char* out, size_t pos, size_t end, Rng& r) {
  const auto& w = words();
  while (pos < end) {
    uint64_t x = r.next();
    for (int k = 0; k < 8; ++k, x >>= 8) {
      const Word& wd = w[x & 63];
      std::memcpy(out + pos, wd.s, 16);
      pos += wd.len;
    }
  }
  return pos;
}

void put_num(unsigned char* out, size_t& pos, uint64_t v, int digits) {
  for (int k = digits - 1; k >= 0; --k) {
    out[pos + static_cast<size_t>(k)] = static_cast<unsigned char>('0' + v % 10);
    v /= 10;
  }
  pos += static_cast<size_t>(digits);
}

void render_text(unsigned char* out, Rng& r) {
  size_t pos = 0;
  while (pos < B) {
    uint64_t x = r.next();
    if ((x & 7) == 0 && pos + 2 < B) {  // a comment line
      out[pos++] = '#';
      out[pos++] = ' ';
    } else if ((x & 7) == 1 && pos + 4 < B) {  // indented option
      std::memcpy(out + pos, "    ", 4);
      pos += 4;
    }
    pos = put_words(out, pos, pos + 20 + (x >> 8) % 50, r);
    out[pos++] = '\n';
  }
}

void render_log(unsigned char* out, Rng& r, uint64_t seed) {
  // Lines of one stretch of time: the seed picks the day and the starting second.
  uint64_t t = seed % (86400ull * 365);
  uint64_t month = (t / 86400 / 31) % 12, day = 1 + (t / 86400) % 28, sec = t % 86400;
  size_t pos = 0;
  while (pos + 40 < B) {
    uint64_t x = r.next();
    sec = (sec + (x & 15)) % 86400;
    std::memcpy(out + pos, kMonths[month], 3);
    pos += 3;
    out[pos++] = ' ';
    put_num(out, pos, day, 2);
    out[pos++] = ' ';
    put_num(out, pos, sec / 3600, 2);
    out[pos++] = ':';
    put_num(out, pos, sec / 60 % 60, 2);
    out[pos++] = ':';
    put_num(out, pos, sec % 60, 2);
    std::memcpy(out + pos, " host ", 6);
    pos += 6;
    const char* p = kProcs[(x >> 4) & 15];
    size_t len = std::strlen(p);
    std::memcpy(out + pos, p, len);
    pos += len;
    if (p[len - 1] == '[') {
      put_num(out, pos, 100 + (x >> 8) % 60000, 5);
      std::memcpy(out + pos, "]: ", 3);
      pos += 3;
    }
    pos = put_words(out, pos, pos + 25 + (x >> 24) % 60, r);
    out[pos++] = '\n';
  }
  while (pos < B) out[pos++] = '\n';
}

// Machine code and data sections: random words, zero words, small integers and common opcode
// sequences, about 2x compressible like real executables.
void render_binary(unsigned char* out, Rng& r) {
  static constexpr uint64_t kOps[8] = {
      0xe589485590c3c35dull, 0x0000000000841f0full, 0x24448b4808ec8348ull, 0xfffffffffffffffeull,
      0x00000000ffffffffull, 0x8b48c78948f08948ull, 0x000000000000e8c3ull, 0x9090909090909090ull};
  static constexpr uint8_t kPick[8] = {0, 0, 0, 1, 1, 2, 3, 3};  // random, zero, small, opcode
  uint64_t s = r.next();
  for (size_t pos = 0; pos < B; pos += 8) {
    s += 0x9e3779b97f4a7c15ull;
    uint64_t x = mix64(s);
    uint64_t cand[4] = {x * 0xd6e8feb86659fd93ull, 0, (x >> 8) & 0x0000ffff0000ffffull,
                        kOps[(x >> 3) & 7]};
    uint64_t w = cand[kPick[x & 7]];
    std::memcpy(out + pos, &w, 8);
  }
}

void render_db(unsigned char* out, Rng& r, uint64_t seed) {
  std::memset(out, 0, B);
  // Page header: LSN, checksum, flags, lower and upper free-space bounds.
  uint64_t lsn = seed;
  std::memcpy(out, &lsn, 8);
  uint64_t tuples = 8 + r.below(40);
  uint16_t lower = static_cast<uint16_t>(24 + tuples * 4);
  size_t free_space = static_cast<size_t>(r.below(B / 3));
  size_t upper = lower + free_space;
  std::memcpy(out + 12, &lower, 2);
  uint16_t up16 = static_cast<uint16_t>(upper);
  std::memcpy(out + 14, &up16, 2);
  out[8] = static_cast<unsigned char>(seed >> 3);
  out[18] = 0x20;
  out[19] = 0x04;
  // Line pointers, then tuples from upper to the end of the page.
  size_t span = (B - upper) / tuples;
  for (uint64_t k = 0; k < tuples; ++k) {
    uint32_t lp = static_cast<uint32_t>((upper + k * span) | (span << 17));
    std::memcpy(out + 24 + k * 4, &lp, 4);
  }
  size_t pos = upper;
  while (pos + 32 + 128 < B) {
    uint64_t x = r.next();
    std::memcpy(out + pos, &x, 8);  // tuple header: xmin/xmax
    pos += 8;
    uint64_t id = (x >> 20) & 0xffffff;
    std::memcpy(out + pos, &id, 8);
    pos += 8;
    pos = put_words(out, pos, pos + 16 + (x >> 44) % 100, r);
  }
}

void render_random(unsigned char* out, Rng& r) {
  for (size_t pos = 0; pos < B; pos += 8) {
    uint64_t x = r.next();
    std::memcpy(out + pos, &x, 8);
  }
}

// Inode table, bitmaps, superblock: sparse structures, mostly zeros.
void render_meta(unsigned char* out, Rng& r) {
  std::memset(out, 0, B);
  for (size_t ino = 0; ino < B / 256; ++ino) {
    uint64_t x = r.next();
    if ((x & 3) == 0) continue;  // free inode
    unsigned char* p = out + ino * 256;
    uint16_t mode = (x & 4) ? 0x81a4 : 0x41ed;  // regular 0644 / directory 0755
    std::memcpy(p, &mode, 2);
    uint32_t size = static_cast<uint32_t>(x >> 32) & 0xfffff;
    std::memcpy(p + 4, &size, 4);
    uint32_t t = 1764000000u + static_cast<uint32_t>(x >> 40);
    for (int k = 0; k < 3; ++k) std::memcpy(p + 8 + k * 4, &t, 4);
    p[26] = 1;
    static const unsigned char extent_magic[2] = {0x0a, 0xf3};
    std::memcpy(p + 40, extent_magic, 2);
    uint64_t blk = r.next() & 0xffffffff;
    std::memcpy(p + 52, &blk, 8);
    p[128] = 0x20;
  }
}

void render_journal(unsigned char* out, Rng& r, uint64_t seed) {
  render_meta(out, r);
  static const unsigned char magic[4] = {0xc0, 0x3b, 0x39, 0x98};
  std::memcpy(out, magic, 4);
  out[7] = static_cast<unsigned char>(1 + (seed & 1));  // descriptor or commit block
  uint32_t seq = static_cast<uint32_t>(seed >> 8);
  std::memcpy(out + 8, &seq, 4);
}

void render_firmware(unsigned char* out, Rng& r, uint64_t seed) {
  std::memset(out, 0xff, B);
  if (seed == 0) return;  // erased flash
  static const char* names[6] = {"BootOrder", "Boot0000", "Boot0001",
                                 "Lang",      "Timeout",  "PlatformLang"};
  size_t pos = 0;
  int vars = 2 + static_cast<int>(r.below(10));
  for (int v = 0; v < vars && pos + 200 < B; ++v) {
    out[pos] = 0xaa;  // variable header start id 0x55aa (little endian)
    out[pos + 1] = 0x55;
    out[pos + 2] = 0x3f;  // state: added
    out[pos + 3] = 0;
    uint32_t attr = 7;
    std::memcpy(out + pos + 4, &attr, 4);
    const char* n = names[r.below(6)];
    size_t nl = std::strlen(n);
    uint32_t nsz = static_cast<uint32_t>((nl + 1) * 2),
             dsz = static_cast<uint32_t>(4 + r.below(60));
    std::memcpy(out + pos + 8, &nsz, 4);
    std::memcpy(out + pos + 12, &dsz, 4);
    uint64_t g1 = r.next(), g2 = r.next();  // vendor guid
    std::memcpy(out + pos + 16, &g1, 8);
    std::memcpy(out + pos + 24, &g2, 8);
    pos += 32;
    for (size_t k = 0; k <= nl; ++k) {
      out[pos++] = k < nl ? static_cast<unsigned char>(n[k]) : 0;
      out[pos++] = 0;
    }
    for (uint32_t k = 0; k < dsz; ++k) out[pos++] = static_cast<unsigned char>(r.next());
    pos = (pos + 3) & ~size_t{3};
  }
  std::memset(out + pos, 0xff, B - pos);
}

void render_boot(unsigned char* out, Rng& r) {
  unsigned char code[B];
  Rng rc(0xb007);  // the same boot code on every disk
  render_binary(code, rc);
  std::memset(out, 0, B);
  std::memcpy(out, code, 440);
  out[446 + 4] = 0xee;  // protective MBR entry
  out[510] = 0x55;
  out[511] = 0xaa;
  std::memcpy(out + 512, "EFI PART", 8);
  out[522] = 1;
  out[524] = 92;
  for (size_t e = 0; e < 3; ++e) {  // partition entries: type guid, unique guid, range, name
    unsigned char* p = out + 1024 + e * 128;
    for (size_t k = 0; k < 56; k += 8) {
      uint64_t x = r.next();
      std::memcpy(p + k, &x, 8);
    }
    const char* name = e == 0 ? "BIOS boot" : e == 1 ? "EFI System" : "Linux filesystem";
    for (size_t k = 0; name[k] && k < 36; ++k) p[56 + 2 * k] = static_cast<unsigned char>(name[k]);
  }
}

}  // namespace

void render_block(uint64_t cid, unsigned char* out) {
  BlockKind kind = cid_kind(cid);
  if (cid == 0 || kind == BlockKind::kZero) {
    std::memset(out, 0, B);
    return;
  }
  uint64_t seed = cid & ((1ull << 47) - 1);
  Rng r(mix64(cid));
  // Generators may run up to kSlack bytes past the block: they render into a larger buffer.
  unsigned char big[B + kSlack];
  unsigned char* const block = out;
  out = big;
  switch (kind) {
    case BlockKind::kText:
      render_text(out, r);
      break;
    case BlockKind::kLog:
      render_log(out, r, seed);
      break;
    case BlockKind::kBinary:
      render_binary(out, r);
      break;
    case BlockKind::kDb:
      render_db(out, r, seed);
      break;
    case BlockKind::kMeta:
      render_meta(out, r);
      break;
    case BlockKind::kJournal:
      render_journal(out, r, seed);
      break;
    case BlockKind::kFirmware:
      render_firmware(out, r, seed);
      break;
    case BlockKind::kBoot:
      render_boot(out, r);
      break;
    default:
      render_random(out, r);
  }
  std::memcpy(block, big, B);
  out = block;
  if (out[0] == 0) out[0] = 0x7f;  // only id 0 is an all-zero block
  uint32_t fill = cid_fill(cid);
  if (fill < B) std::memset(out + fill, 0, B - fill);
}

}  // namespace pvesim
