// Session, part one: the handshake (option haggling, STARTTLS), up to the transmission phase.
#include <spdlog/spdlog.h>

#include "nbd/protocol.h"
#include "nbd/session.h"
#include "nbd/tls_transport.h"

namespace pvesafe::nbd {

namespace {
// Option payloads larger than this are refused by ending the session: every option this server
// knows fits in a few KiB (names and queries are at most 4096 bytes each).
constexpr uint32_t kMaxOptionBytes = 64 * 1024;
}  // namespace

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

}  // namespace pvesafe::nbd
