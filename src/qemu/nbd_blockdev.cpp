#include "qemu/nbd_blockdev.h"

#include "core/error.h"

namespace pvesafe::qemu {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& s, const std::string& uri) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw Error(Errc::kUsage, "bad percent escape in NBD URI '" + uri + "'");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

nlohmann::json nbd_blockdev(const std::string& uri, const std::string& node_name) {
  nlohmann::json server;
  std::string export_name;
  if (uri.rfind("nbd+unix://", 0) == 0) {
    const std::string rest = uri.substr(11);  // /NAME?socket=PATH
    const auto q = rest.find("?socket=");
    if (rest.empty() || rest[0] != '/' || q == std::string::npos || q + 8 >= rest.size()) {
      throw Error(Errc::kUsage, "bad NBD URI '" + uri + "'", "use nbd+unix:///NAME?socket=PATH");
    }
    export_name = rest.substr(1, q - 1);
    server = {{"type", "unix"}, {"path", rest.substr(q + 8)}};
  } else if (uri.rfind("nbd://", 0) == 0) {
    const std::string rest = uri.substr(6);  // HOST[:PORT][/NAME]
    const auto slash = rest.find('/');
    const std::string hp = rest.substr(0, slash);
    export_name = slash == std::string::npos ? "" : rest.substr(slash + 1);
    std::string host = hp, port = "10809";
    if (!hp.empty() && hp[0] == '[') {
      const auto close = hp.find(']');
      if (close == std::string::npos) throw Error(Errc::kUsage, "bad NBD URI '" + uri + "'");
      host = hp.substr(1, close - 1);
      if (close + 1 < hp.size()) {
        if (hp[close + 1] != ':') throw Error(Errc::kUsage, "bad NBD URI '" + uri + "'");
        port = hp.substr(close + 2);
      }
    } else if (auto colon = hp.rfind(':'); colon != std::string::npos) {
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
      throw Error(Errc::kUsage, "bad NBD URI '" + uri + "'", "use nbd://HOST:PORT/NAME");
    }
    server = {{"type", "inet"}, {"host", host}, {"port", port}};
  } else if (uri.rfind("nbds", 0) == 0) {
    throw Error(Errc::kUnsupported, "TLS NBD exports are not supported as a QEMU source yet",
                "forward the export's Unix socket over SSH (ssh -L /tmp/x.sock:/run/y.sock) and "
                "use nbd+unix://");
  } else {
    throw Error(Errc::kUsage, "bad NBD URI '" + uri + "'",
                "use nbd+unix:///NAME?socket=PATH or nbd://HOST:PORT/NAME");
  }
  return {{"driver", "nbd"},
          {"node-name", node_name},
          {"server", server},
          {"export", percent_decode(export_name, uri)},
          {"read-only", true}};
}

}  // namespace pvesafe::qemu
