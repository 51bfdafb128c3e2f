#include "common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdio>
#include <fstream>

namespace pvesim {

void param_error(const std::string& param, const std::string& message) {
  throw ApiError(400, "Parameter verification failed.", json{{param, message}});
}

void fail(const std::string& message) { throw ApiError(500, message); }

uint64_t parse_size(const std::string& s) {
  if (s.empty()) throw std::invalid_argument("empty size");
  size_t pos = 0;
  double v = std::stod(s, &pos);
  std::string unit = s.substr(pos);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  uint64_t mult = 1;
  if (unit.empty())
    mult = 1;
  else if (unit == "K" || unit == "k")
    mult = 1ull << 10;
  else if (unit == "M" || unit == "m")
    mult = 1ull << 20;
  else if (unit == "G" || unit == "g")
    mult = 1ull << 30;
  else if (unit == "T" || unit == "t")
    mult = 1ull << 40;
  else
    throw std::invalid_argument("unknown size unit in '" + s + "'");
  return static_cast<uint64_t>(v * static_cast<double>(mult));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void parse_form(const std::string& body, Params& p) {
  for (const auto& kv : split(body, '&')) {
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos)
      p[url_decode(kv)] = "";
    else
      p[url_decode(kv.substr(0, eq))] = url_decode(kv.substr(eq + 1));
  }
}

std::string hex_upper(uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llX", width, static_cast<unsigned long long>(v));
  return buf;
}

std::string sha256_hex_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string out;
  char h[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(h, sizeof h, "%02x", md[i]);
    out += h;
  }
  return out;
}

std::string base64(const unsigned char* data, size_t n, bool pad) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  if (!pad)
    while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::string hmac_sha256_b64(const std::string& key, const std::string& msg, bool pad) {
  unsigned char md[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
  return base64(md, len, pad);
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(bytes));
  std::string out;
  char h[3];
  for (auto c : b) {
    std::snprintf(h, sizeof h, "%02x", c);
    out += h;
  }
  return out;
}

std::string random_uuid() {
  std::string h = random_hex(16);
  h[12] = '4';
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

const std::string* opt_param(const Params& p, const std::string& name) {
  auto it = p.find(name);
  return it == p.end() ? nullptr : &it->second;
}

const std::string& req_param(const Params& p, const std::string& name) {
  auto it = p.find(name);
  if (it == p.end()) param_error(name, "property is missing and it is not optional");
  return it->second;
}

int64_t int_param(const Params& p, const std::string& name, int64_t def, int64_t min, int64_t max) {
  auto it = p.find(name);
  if (it == p.end() || it->second.empty()) return def;
  size_t pos = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos == 0 || pos != it->second.size())
    param_error(name, "type check ('integer') failed - got '" + it->second + "'");
  if (v < min) param_error(name, "value must have a minimum value of " + std::to_string(min));
  if (v > max) param_error(name, "value must have a maximum value of " + std::to_string(max));
  return v;
}

bool bool_param(const Params& p, const std::string& name, bool def) {
  auto it = p.find(name);
  if (it == p.end() || it->second.empty()) return def;
  const std::string& v = it->second;
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  param_error(name, "type check ('boolean') failed - got '" + v + "'");
}

}  // namespace pvesim
