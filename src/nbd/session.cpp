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

// Option payloads larger than this are refused by ending the session: every option this server
// knows fits in a few KiB (names and queries are at most 4096 bytes each).
constexpr uint32_t kMaxOptionBytes = 64 * 1024;
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
// Handshake

bool Session::export_matches(const std::string& name) const {
  return name.empty() || name == shared_.options.export_name;
}

uint16_t Session::transmission_flags() const {
  uint16_t f = kFlagHasFlags | kFlagReadOnly | kFlagSendFlush | kFlagCanMultiConn;
  if (structured_) f |= kFlagSendDf;
  return f;
}

void Session::send_option_reply(uint32_t option, uint32_t type, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> h;
  put_u64(h, kOptReplyMagic);
  put_u32(h, option);
  put_u32(h, type);
  put_u32(h, static_cast<uint32_t>(data.size()));
  transport_->write_all({Piece(h), Piece(data)});
}

void Session::send_option_error(uint32_t option, uint32_t type, const std::string& message) {
  std::vector<uint8_t> d(message.begin(), message.end());
  send_option_reply(option, type, d);
}

bool Session::handshake() {
  transport_->set_read_timeout(shared_.options.handshake_timeout);
  std::vector<uint8_t> greeting;
  put_u64(greeting, kInitPasswd);
  put_u64(greeting, kIHaveOpt);
  put_u16(greeting, kFlagFixedNewstyle | kFlagNoZeroes);
  transport_->write_all({Piece(greeting)});

  uint8_t cf[4];
  if (!transport_->read_exact(cf, 4)) return false;
  const uint32_t client_flags = get_u32(cf);
  if (client_flags & ~(kClientFixedNewstyle | kClientNoZeroes)) {
    spdlog::info("nbd: {} sent unknown client flags {:#x}; closing", peer_, client_flags);
    return false;
  }
  fixed_newstyle_ = client_flags & kClientFixedNewstyle;
  no_zeroes_ = client_flags & kClientNoZeroes;
  if (shared_.options.tls && !fixed_newstyle_) {
    spdlog::info("nbd: {} cannot negotiate TLS (no fixed newstyle); closing", peer_);
    return false;
  }

  for (;;) {
    uint8_t oh[kOptionHeaderSize];
    if (!transport_->read_exact(oh, sizeof(oh))) return false;
    if (get_u64(oh) != kIHaveOpt) {
      spdlog::info("nbd: {} sent a bad option magic; closing", peer_);
      return false;
    }
    const uint32_t option = get_u32(oh + 8);
    const uint32_t length = get_u32(oh + 12);
    if (length > kMaxOptionBytes) {
      spdlog::info("nbd: {} sent {} with {} bytes of data; closing", peer_, option_name(option),
                   length);
      return false;
    }
    std::vector<uint8_t> data(length);
    if (length && !transport_->read_exact(data.data(), length)) return false;

    if (option == kOptExportName) {
      // Cannot be answered with an error: a refusal ends the session.
      std::string name(data.begin(), data.end());
      if ((shared_.options.tls && !tls_done_) || !export_matches(name) || shared_.shutting_down) {
        spdlog::info("nbd: {} asked for export '{}' by NBD_OPT_EXPORT_NAME; refused", peer_, name);
        return false;
      }
      std::vector<uint8_t> r;
      put_u64(r, shared_.source->size());
      put_u16(r, transmission_flags());
      if (!no_zeroes_) r.resize(r.size() + 124, 0);
      transport_->write_all({Piece(r)});
      return true;
    }
    if (!fixed_newstyle_) {
      spdlog::info("nbd: {} sent {} without fixed newstyle; closing", peer_, option_name(option));
      return false;
    }
    if (option == kOptAbort) {
      send_option_reply(option, kRepAck);
      return false;
    }
    if (shared_.shutting_down) {
      send_option_error(option, kRepErrShutdown, "the server is shutting down");
      continue;
    }
    if (shared_.options.tls && !tls_done_ && option != kOptStartTls) {
      send_option_error(option, kRepErrTlsReqd,
                        "this server requires TLS: send NBD_OPT_STARTTLS first");
      continue;
    }
    if (!handle_option(option, data)) return option == kOptGo;
  }
}

// Returns false when option haggling is over: after NBD_OPT_GO succeeded (transmission starts)
// or when the session must end.
bool Session::handle_option(uint32_t option, std::vector<uint8_t>& data) {
  switch (option) {
    case kOptList: {
      if (!data.empty()) {
        send_option_error(option, kRepErrInvalid, "NBD_OPT_LIST takes no data");
        return true;
      }
      std::vector<uint8_t> d;
      put_u32(d, static_cast<uint32_t>(shared_.options.export_name.size()));
      put_bytes(d, shared_.options.export_name);
      put_bytes(d, shared_.options.description);
      send_option_reply(option, kRepServer, d);
      send_option_reply(option, kRepAck);
      return true;
    }
    case kOptStartTls: {
      if (!data.empty()) {
        send_option_error(option, kRepErrInvalid, "NBD_OPT_STARTTLS takes no data");
        return true;
      }
      if (!shared_.options.tls) {
        send_option_error(option, kRepErrPolicy, "this server is not configured for TLS");
        return true;
      }
      if (tls_done_) {
        send_option_error(option, kRepErrInvalid, "TLS is already running");
        return true;
      }
      return start_tls();
    }
    case kOptStructuredReply:
      if (!data.empty()) {
        send_option_error(option, kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
        return true;
      }
      structured_ = true;
      send_option_reply(option, kRepAck);
      return true;
    case kOptInfo:
    case kOptGo:
      return handle_info_or_go(option, data);
    case kOptListMetaContext:
    case kOptSetMetaContext:
      handle_meta_context(option, data);
      return true;
    default:
      send_option_error(option, kRepErrUnsup, option_name(option) + " is not supported by pvesafe");
      return true;
  }
}

bool Session::start_tls() {
  send_option_reply(kOptStartTls, kRepAck);
  auto* plain = dynamic_cast<PlainTransport*>(transport_.get());
  int fd = plain->release();
  try {
    auto tls = tls_accept(*shared_.options.tls, fd, shared_.options.handshake_timeout);
    std::lock_guard lock(mu_);
    transport_ = std::move(tls);
  } catch (...) {
    // tls_accept closed the socket: fd_ may already name another connection's socket.
    std::lock_guard lock(mu_);
    closed_ = true;
    transport_.reset();
    throw;
  }
  tls_done_ = true;
  // Nothing negotiated before TLS carries over (the spec asks clients to negotiate again).
  structured_ = false;
  meta_allocation_ = false;
  return true;
}

void Session::send_export_info(uint32_t option, const std::vector<uint16_t>& requested) {
  std::vector<uint8_t> d;
  put_u16(d, kInfoExport);
  put_u64(d, shared_.source->size());
  put_u16(d, transmission_flags());
  send_option_reply(option, kRepInfo, d);
  // Block sizes are sent whether asked or not (the spec allows it): clients then keep requests
  // within max_request_bytes instead of learning it from an EINVAL.
  d.clear();
  put_u16(d, kInfoBlockSize);
  put_u32(d, 1);
  put_u32(d, shared_.options.preferred_block_size);
  put_u32(d, shared_.options.max_request_bytes);
  send_option_reply(option, kRepInfo, d);
  for (uint16_t type : requested) {
    d.clear();
    if (type == kInfoName) {
      put_u16(d, kInfoName);
      put_bytes(d, shared_.options.export_name);
    } else if (type == kInfoDescription && !shared_.options.description.empty()) {
      put_u16(d, kInfoDescription);
      put_bytes(d, shared_.options.description.substr(0, 4096));
    } else {
      continue;  // unknown or already sent: the spec lets the server ignore it
    }
    send_option_reply(option, kRepInfo, d);
  }
}

bool Session::handle_info_or_go(uint32_t option, const std::vector<uint8_t>& data) {
  // Data: u32 name length, name, u16 number of info requests, u16 each.
  if (data.size() < 6) {
    send_option_error(option, kRepErrInvalid, option_name(option) + " data is too short");
    return true;
  }
  const uint32_t name_len = get_u32(data.data());
  if (name_len > data.size() - 6) {
    send_option_error(option, kRepErrInvalid, option_name(option) + " name length is wrong");
    return true;
  }
  std::string name(data.begin() + 4, data.begin() + 4 + name_len);
  const uint16_t n = get_u16(data.data() + 4 + name_len);
  if (data.size() != 6 + name_len + 2u * n) {
    send_option_error(option, kRepErrInvalid,
                      option_name(option) + " request list length is wrong");
    return true;
  }
  std::vector<uint16_t> requested;
  for (uint16_t i = 0; i < n; ++i) requested.push_back(get_u16(data.data() + 6 + name_len + 2 * i));
  if (!export_matches(name)) {
    send_option_error(
        option, kRepErrUnknown,
        "no export named '" + name + "' (this server has '" + shared_.options.export_name + "')");
    return true;
  }
  send_export_info(option, requested);
  send_option_reply(option, kRepAck);
  // NBD_OPT_GO: transmission starts. A context selected earlier stays: every name this server
  // accepts is the same disk.
  return option != kOptGo;
}

void Session::handle_meta_context(uint32_t option, const std::vector<uint8_t>& data) {
  if (!structured_) {
    send_option_error(option, kRepErrInvalid, "negotiate NBD_OPT_STRUCTURED_REPLY first");
    return;
  }
  // Data: u32 name length, name, u32 number of queries, then u32 length + query each.
  size_t pos = 0;
  auto need = [&](size_t n) { return data.size() - pos >= n; };
  if (!need(4)) return send_option_error(option, kRepErrInvalid, "meta context data is too short");
  uint32_t name_len = get_u32(data.data());
  pos = 4;
  if (!need(name_len))
    return send_option_error(option, kRepErrInvalid, "export name length is wrong");
  std::string name(data.begin() + 4, data.begin() + 4 + name_len);
  pos += name_len;
  if (!need(4)) return send_option_error(option, kRepErrInvalid, "meta context data is too short");
  uint32_t nq = get_u32(data.data() + pos);
  pos += 4;
  std::vector<std::string> queries;
  for (uint32_t i = 0; i < nq; ++i) {
    if (!need(4))
      return send_option_error(option, kRepErrInvalid, "meta context query is truncated");
    uint32_t ql = get_u32(data.data() + pos);
    pos += 4;
    if (!need(ql))
      return send_option_error(option, kRepErrInvalid, "meta context query is truncated");
    queries.emplace_back(data.begin() + static_cast<long>(pos),
                         data.begin() + static_cast<long>(pos + ql));
    pos += ql;
  }
  if (pos != data.size()) {
    return send_option_error(option, kRepErrInvalid, "meta context data has trailing bytes");
  }
  if (!export_matches(name)) {
    return send_option_error(option, kRepErrUnknown, "no export named '" + name + "'");
  }
  bool match = false;
  if (option == kOptListMetaContext) {
    match = queries.empty();
    for (const auto& q : queries) match = match || q == "base:" || q == kMetaBaseAllocation;
  } else {
    for (const auto& q : queries) match = match || q == kMetaBaseAllocation;
    meta_allocation_ = match;
  }
  if (match) {
    std::vector<uint8_t> d;
    put_u32(d, option == kOptSetMetaContext ? kAllocationContextId : 0);
    put_bytes(d, kMetaBaseAllocation);
    send_option_reply(option, kRepMetaContext, d);
  }
  send_option_reply(option, kRepAck);
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
