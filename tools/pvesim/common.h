// Small shared helpers of the simulator: the API error type, size parsing, string utilities.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace pvesim {

using json = nlohmann::json;
using Params = std::map<std::string, std::string>;

// An error answered the way the PVE API server answers it: HTTP status, the message PVE puts in
// the status line, and for parameter errors the per-parameter "errors" object.
struct ApiError : std::runtime_error {
  int status;
  json errors;
  ApiError(int s, const std::string& msg, json errs = nullptr)
      : std::runtime_error(msg), status(s), errors(std::move(errs)) {}
};

// 400 "Parameter verification failed." with {"param": "message"}.
[[noreturn]] void param_error(const std::string& param, const std::string& message);
// 500 with a message, as PVE raises from `die "...\n"` inside a handler.
[[noreturn]] void fail(const std::string& message);

// "4G", "512M", "1T", "1048576" -> bytes (binary units).
uint64_t parse_size(const std::string& s);
std::vector<std::string> split(const std::string& s, char sep);
std::string join(const std::vector<std::string>& v, const std::string& sep);
bool starts_with(const std::string& s, const std::string& prefix);
std::string url_decode(const std::string& s);
// Parses application/x-www-form-urlencoded text into p (later keys overwrite earlier ones).
void parse_form(const std::string& body, Params& p);
std::string hex_upper(uint64_t v, int width);
std::string sha256_hex_file(const std::string& path);
std::string base64(const unsigned char* data, size_t n, bool pad = true);
std::string hmac_sha256_b64(const std::string& key, const std::string& msg, bool pad);
std::string random_hex(size_t bytes);
std::string random_uuid();
// Integer parameter with PVE's validation messages.
int64_t int_param(const Params& p, const std::string& name, int64_t def, int64_t min, int64_t max);
bool bool_param(const Params& p, const std::string& name, bool def);
const std::string* opt_param(const Params& p, const std::string& name);
const std::string& req_param(const Params& p, const std::string& name);

}  // namespace pvesim
