#include "fs/ext2_io.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"

namespace pvesafe::fs {

namespace {

struct Channel {
  BlockSource* source = nullptr;
  std::exception_ptr error;  // the last read's failure, for rethrow_io_error()
};

std::mutex g_mu;
std::map<std::string, BlockSource*> g_pending;  // name -> source, during open_ext2fs()
unsigned long g_next = 0;

extern struct_io_manager g_manager;

Channel* chan(io_channel c) { return static_cast<Channel*>(c->private_data); }

errcode_t bs_open(const char* name, int flags, io_channel* out) {
  if (flags & IO_FLAG_RW) return EROFS;
  BlockSource* src = nullptr;
  {
    std::lock_guard lock(g_mu);
    auto it = g_pending.find(name);
    if (it == g_pending.end()) return ENOENT;
    src = it->second;
  }
  auto* io = new (std::nothrow) struct_io_channel{};
  auto* ch = new (std::nothrow) Channel{};
  char* n = strdup(name);
  if (!io || !ch || !n) {
    delete io;
    delete ch;
    free(n);
    return ENOMEM;
  }
  ch->source = src;
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = &g_manager;
  io->name = n;
  io->block_size = 1024;
  io->refcount = 1;
  io->private_data = ch;
  *out = io;
  return 0;
}

errcode_t bs_close(io_channel c) {
  if (--c->refcount > 0) return 0;
  delete chan(c);
  free(c->name);
  delete c;
  return 0;
}

errcode_t bs_set_blksize(io_channel c, int blksize) {
  c->block_size = blksize;
  return 0;
}

errcode_t bs_read64(io_channel c, unsigned long long block, int count, void* data) {
  Channel* ch = chan(c);
  const uint64_t size = count < 0 ? static_cast<uint64_t>(-static_cast<int64_t>(count))
                                  : static_cast<uint64_t>(count) * static_cast<uint64_t>(c->block_size);
  const uint64_t offset = block * static_cast<uint64_t>(c->block_size);
  const uint64_t end = ch->source->size();
  // Past the end of the volume reads as zeros (a file system smaller than its partition never
  // asks; a damaged one might), as a short read would.
  uint64_t n = offset >= end ? 0 : std::min(size, end - offset);
  try {
    if (n) ch->source->read(offset, static_cast<uint8_t*>(data), static_cast<size_t>(n));
    if (n < size) std::memset(static_cast<uint8_t*>(data) + n, 0, static_cast<size_t>(size - n));
  } catch (...) {
    ch->error = std::current_exception();
    return EXT2_ET_SHORT_READ;
  }
  return n < size ? EXT2_ET_SHORT_READ : 0;
}

errcode_t bs_read(io_channel c, unsigned long block, int count, void* data) { return bs_read64(c, block, count, data); }
errcode_t bs_write(io_channel, unsigned long, int, const void*) { return EROFS; }
errcode_t bs_write64(io_channel, unsigned long long, int, const void*) { return EROFS; }
errcode_t bs_write_byte(io_channel, unsigned long, int, const void*) { return EROFS; }
errcode_t bs_flush(io_channel) { return 0; }
errcode_t bs_set_option(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }

struct_io_manager make_manager() {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "pvesafe BlockSource I/O manager";
  m.open = bs_open;
  m.close = bs_close;
  m.set_blksize = bs_set_blksize;
  m.read_blk = bs_read;
  m.write_blk = bs_write;
  m.flush = bs_flush;
  m.write_byte = bs_write_byte;
  m.set_option = bs_set_option;
  m.read_blk64 = bs_read64;
  m.write_blk64 = bs_write64;
  return m;
}

struct_io_manager g_manager = make_manager();

}  // namespace

errcode_t open_ext2fs(BlockSource& source, int flags, ext2_filsys* fs) {
  if (flags & EXT2_FLAG_RW) return EROFS;
  std::string name;
  {
    std::lock_guard lock(g_mu);
    name = "pvesafe-blocksource:" + std::to_string(++g_next);
    g_pending[name] = &source;
  }
  struct Unregister {
    std::string n;
    ~Unregister() {
      std::lock_guard lock(g_mu);
      g_pending.erase(n);
    }
  } unregister{name};
  errcode_t rc = ext2fs_open2(name.c_str(), nullptr, flags, 0, 0, &g_manager, fs);
  return rc;
}

void rethrow_io_error(ext2_filsys fs) {
  if (!fs || !fs->io || fs->io->manager != &g_manager) return;
  Channel* ch = chan(fs->io);
  if (ch->error) {
    auto e = ch->error;
    ch->error = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace pvesafe::fs
