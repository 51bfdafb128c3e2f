// NBD URIs as QEMU's nbd block driver options. pvesafe hands QEMU its export as a -blockdev
// (JSON), never as a filename string, so socket paths with commas or colons cannot be
// misparsed. Accepted: nbd+unix:///NAME?socket=PATH, nbd://HOST[:PORT][/NAME] (IPv6 in
// brackets); the export name is percent-decoded. nbds:// (TLS) is kUnsupported for now;
// anything else kUsage.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace pvesafe::qemu {

// {"driver":"nbd","node-name":NODE,"server":{...},"export":NAME,"read-only":true}
nlohmann::json nbd_blockdev(const std::string& uri, const std::string& node_name);

}  // namespace pvesafe::qemu
