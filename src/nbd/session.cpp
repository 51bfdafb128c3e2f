// Session, part two: lifecycle and the transmission phase (session_handshake.cpp has the rest).
#include "nbd/session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "nbd/protocol.h"
#include "nbd/tls_transport.h"

namespace pvesafe::nbd {

namespace {

constexpr size_t kMaxStatusDescriptors = 1 << 16;

struct Span {
  uint64_t offset;
  uint64_t length;
  bool zero;
};

// The source's extents of [offset, offset+length), checked to tile the range exactly and merged
// where consecutive pieces agree. A source that answers nonsense (or throws) is read as data.
std::vector<Span> plan_extents(BlockSource& source, uint64_t offset, uint64_t length) {
  std::vector<Span> out;
  try {
    uint64_t pos = offset;
    for (const auto& e : source.extents(offset, length)) {
      if (e.offset != pos || e.length == 0 || e.length > offset + length - pos) {
        out.clear();
        break;
      }
      if (!out.empty() && out.back().zero == e.zero) {
        out.back().length += e.length;
      } else {
        out.push_back({e.offset, e.length, e.zero});
      }
      pos += e.length;
    }
    if (pos != offset + length) out.clear();
  } catch (const std::exception& e) {
    spdlog::debug("nbd: extents of {}+{} failed, reading it as data: {}", offset, length, e.what());
    out.clear();
  }
  if (out.empty()) out.push_back({offset, length, false});
  return out;
}

std::string errc_text(const std::exception& e) {
  if (auto* pe = dynamic_cast<const Error*>(&e)) return std::string(errc_name(pe->code()));
  return "internal";
}

}  // namespace

Session::Session(SessionShared& shared, int fd, std::string peer)
    : shared_(shared),
      fd_(fd),
      peer_(std::move(peer)),
      transport_(std::make_unique<PlainTransport>(fd)) {}

Session::~Session() = default;

void Session::shutdown_socket() {
  std::lock_guard lock(mu_);
  broken_ = true;
  if (!closed_) ::shutdown(fd_, SHUT_RDWR);
  idle_cv_.notify_all();
}

uint64_t Session::inflight_requests() const {
  std::lock_guard lock(mu_);
  return inflight_requests_;
}

void Session::run() {
  try {
    if (handshake()) transmission();
  } catch (const std::exception& e) {
    if (!broken_) spdlog::info("nbd: connection from {} ended: {}", peer_, e.what());
  }
  wait_idle();
  try {
    if (!broken_ && transport_) transport_->finish();
  } catch (const std::exception&) {
  }
  // Close now, not when the server gets round to reaping the session: the client sees the end
  // at once. No request is in flight any more, so nothing else uses the transport.
  std::lock_guard lock(mu_);
  closed_ = true;
  transport_.reset();
}

// ---------------------------------------------------------------------------------------------
// Transmission

void Session::transmission() {
  transport_->set_read_timeout(std::chrono::milliseconds(0));
  uint8_t h[kRequestHeaderSize];
  for (;;) {
    if (broken_ || !transport_->read_exact(h, sizeof(h))) return;
    if (get_u32(h) != kRequestMagic) {
      spdlog::info("nbd: {} sent a bad request magic; closing", peer_);
      return;
    }
    Request r{get_u16(h + 4), get_u16(h + 6), get_u64(h + 8), get_u64(h + 16), get_u32(h + 24)};
    if (r.type == kCmdWrite) {
      // The payload follows the header whatever the answer: read it to stay in step.
      if (r.length > shared_.options.max_request_bytes) {
        spdlog::info("nbd: {} sent a {}-byte write; closing", peer_, r.length);
        return;
      }
      std::vector<uint8_t> sink(r.length);
      if (r.length && !transport_->read_exact(sink.data(), r.length)) return;
    }
    if (r.type == kCmdDisc) return;
    dispatch(r);
  }
}

void Session::dispatch(const Request& r) {
  const uint64_t size = shared_.source->size();
  const bool in_bounds = r.offset <= size && r.length <= size - r.offset;
  if (shared_.shutting_down) {
    reply_error(r.handle, kESHUTDOWN, "the server is shutting down");
    return;
  }
  switch (r.type) {
    case kCmdFlush:
      reply_ok(r.handle);  // read-only: nothing to make durable
      return;
    case kCmdWrite:
    case kCmdTrim:
    case kCmdWriteZeroes:
      reply_error(r.handle, kEPERM, "the export is read-only");
      return;
    case kCmdRead: {
      const uint16_t allowed = kCmdFlagFua | (structured_ ? kCmdFlagDf : 0);
      if (r.flags & ~allowed)
        return reply_error(r.handle, kEINVAL, "unknown flags on NBD_CMD_READ");
      if (r.length == 0 || r.length > shared_.options.max_request_bytes) {
        return reply_error(
            r.handle, kEINVAL,
            "read length must be 1.." + std::to_string(shared_.options.max_request_bytes));
      }
      if (!in_bounds) return reply_error(r.handle, kEINVAL, "read beyond the end of the export");
      break;
    }
    case kCmdBlockStatus: {
      if (!structured_ || !meta_allocation_) {
        return reply_error(r.handle, kEINVAL, "no metadata context selected (base:allocation)");
      }
      if (r.flags & ~(kCmdFlagFua | kCmdFlagReqOne)) {
        return reply_error(r.handle, kEINVAL, "unknown flags on NBD_CMD_BLOCK_STATUS");
      }
      if (r.length == 0 || !in_bounds) {
        return reply_error(r.handle, kEINVAL, "block status range is empty or beyond the end");
      }
      break;
    }
    default:
      reply_error(r.handle, kEINVAL, command_name(r.type) + " is not supported");
      return;
  }
  const uint64_t bytes = r.type == kCmdRead ? r.length : 0;
  begin_request(bytes);
  auto self = shared_from_this();
  bool queued = shared_.pool->submit([self, r, bytes] {
    if (r.type == kCmdRead)
      self->do_read(r);
    else
      self->do_block_status(r);
    self->end_request(bytes);
  });
  if (!queued) {
    end_request(bytes);
    reply_error(r.handle, kESHUTDOWN, "the server is shutting down");
  }
}

void Session::do_read(const Request& r) {
  auto& c = shared_.counters;
  c.read_requests++;
  const std::vector<Span> spans = plan_extents(*shared_.source, r.offset, r.length);
  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[r.length]);
  if (!buf) return reply_error(r.handle, kENOMEM, "out of memory");
  uint64_t hole = 0;
  try {
    for (const auto& s : spans) {
      if (s.zero) {
        hole += s.length;
      } else {
        shared_.source->read(s.offset, buf.get() + (s.offset - r.offset), s.length);
      }
    }
  } catch (const std::exception& e) {
    const Errc code =
        dynamic_cast<const Error*>(&e) ? static_cast<const Error&>(e).code() : Errc::kInternal;
    c.failed_reads++;
    c.record_failure(code, std::string("read of ") + std::to_string(r.length) + " bytes at " +
                               std::to_string(r.offset) + " failed: " + e.what());
    spdlog::warn("nbd: {}: read of {} bytes at {} failed: {}", shared_.source->name(), r.length,
                 r.offset, e.what());
    reply_error(r.handle, kEIO,
                "pvesafe could not read " + std::to_string(r.length) + " bytes at offset " +
                    std::to_string(r.offset) + " (" + errc_text(e) + ")");
    return;
  }

  std::vector<Piece> pieces;
  std::vector<uint8_t> headers;
  if (!structured_ || (r.flags & kCmdFlagDf)) {
    for (const auto& s : spans) {
      if (s.zero) std::memset(buf.get() + (s.offset - r.offset), 0, s.length);
    }
  }
  if (!structured_) {
    put_u32(headers, kSimpleReplyMagic);
    put_u32(headers, 0);
    put_u64(headers, r.handle);
    pieces = {Piece(headers), Piece(buf.get(), r.length)};
  } else if ((r.flags & kCmdFlagDf) || (spans.size() == 1 && !spans[0].zero)) {
    headers = structured_header(r.handle, kReplyTypeOffsetData, kReplyFlagDone, 8 + r.length);
    put_u64(headers, r.offset);
    pieces = {Piece(headers), Piece(buf.get(), r.length)};
  } else {
    // One content chunk per piece: holes cost 32 bytes on the wire, whatever their size.
    headers.reserve(spans.size() * (kStructuredReplyHeaderSize + 12));
    std::vector<std::pair<size_t, size_t>> header_ranges;
    for (size_t i = 0; i < spans.size(); ++i) {
      const auto& s = spans[i];
      const uint16_t flags = i + 1 == spans.size() ? kReplyFlagDone : 0;
      size_t start = headers.size();
      std::vector<uint8_t> h = s.zero ? structured_header(r.handle, kReplyTypeOffsetHole, flags, 12)
                                      : structured_header(r.handle, kReplyTypeOffsetData, flags,
                                                          static_cast<uint32_t>(8 + s.length));
      headers.insert(headers.end(), h.begin(), h.end());
      put_u64(headers, s.offset);
      if (s.zero) put_u32(headers, static_cast<uint32_t>(s.length));
      header_ranges.emplace_back(start, headers.size() - start);
    }
    for (size_t i = 0; i < spans.size(); ++i) {
      pieces.emplace_back(headers.data() + header_ranges[i].first, header_ranges[i].second);
      if (!spans[i].zero)
        pieces.emplace_back(buf.get() + (spans[i].offset - r.offset), spans[i].length);
    }
  }
  c.requests++;
  c.read_bytes += r.length;
  c.hole_bytes += hole;
  send(pieces);
}

void Session::do_block_status(const Request& r) {
  std::vector<std::pair<uint32_t, uint32_t>> desc;  // length, flags
  for (const auto& s : plan_extents(*shared_.source, r.offset, r.length)) {
    const uint32_t flags = s.zero ? (kStateHole | kStateZero) : 0;
    desc.emplace_back(static_cast<uint32_t>(s.length), flags);
    if ((r.flags & kCmdFlagReqOne) || desc.size() >= kMaxStatusDescriptors) break;
  }
  std::vector<uint8_t> d = structured_header(r.handle, kReplyTypeBlockStatus, kReplyFlagDone,
                                             static_cast<uint32_t>(4 + 8 * desc.size()));
  put_u32(d, kAllocationContextId);
  for (const auto& [len, flags] : desc) {
    put_u32(d, len);
    put_u32(d, flags);
  }
  shared_.counters.requests++;
  send({Piece(d)});
}

void Session::reply_ok(uint64_t handle) {
  std::vector<uint8_t> h;
  put_u32(h, kSimpleReplyMagic);
  put_u32(h, 0);
  put_u64(h, handle);
  shared_.counters.requests++;
  send({Piece(h)});
}

void Session::reply_error(uint64_t handle, uint32_t error, const std::string& message) {
  shared_.counters.requests++;
  shared_.counters.failed_requests++;
  std::vector<uint8_t> h;
  if (structured_) {
    const std::string msg = message.substr(0, 4096);
    h = structured_header(handle, kReplyTypeError, kReplyFlagDone,
                          static_cast<uint32_t>(6 + msg.size()));
    put_u32(h, error);
    put_u16(h, static_cast<uint16_t>(msg.size()));
    put_bytes(h, msg);
  } else {
    put_u32(h, kSimpleReplyMagic);
    put_u32(h, error);
    put_u64(h, handle);
  }
  send({Piece(h)});
}

void Session::send(const std::vector<Piece>& pieces) {
  if (broken_) return;
  try {
    transport_->write_all(pieces);
  } catch (const std::exception& e) {
    // The client is gone or the link broke: no later reply can reach it. End the session.
    if (!broken_.exchange(true)) {
      spdlog::info("nbd: connection from {}: {}", peer_, e.what());
      std::lock_guard lock(mu_);
      if (!closed_) ::shutdown(fd_, SHUT_RDWR);
    }
  }
}

void Session::begin_request(uint64_t bytes) {
  std::unique_lock lock(mu_);
  const uint64_t budget = shared_.options.max_inflight_bytes_per_connection;
  idle_cv_.wait(lock, [&] {
    return inflight_requests_ == 0 || inflight_bytes_ + bytes <= budget || broken_;
  });
  inflight_requests_++;
  inflight_bytes_ += bytes;
}

void Session::end_request(uint64_t bytes) {
  std::lock_guard lock(mu_);
  inflight_requests_--;
  inflight_bytes_ -= bytes;
  idle_cv_.notify_all();
}

void Session::wait_idle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return inflight_requests_ == 0; });
}

}  // namespace pvesafe::nbd
