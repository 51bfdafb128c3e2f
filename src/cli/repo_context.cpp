#include "cli/repo_context.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "crypto/gpg_agent.h"
#include "crypto/openpgp.h"
#include "crypto/secret_key_provider.h"
#include "crypto/session_key_command.h"
#include "repo/lock.h"
#include "store/open_store.h"

namespace pvesafe::cli {

void add_passphrase_flags(CLI::App* cmd, RepoFlags& flags) {
  cmd->add_option("--passphrase-file", flags.passphrase.file,
                  "File holding the repository passphrase (first line; mode 600)");
  cmd->add_option("--passphrase-command", flags.passphrase.command,
                  "Command printing the passphrase (run via /bin/sh; first line of stdout)");
  auto* sk =
      cmd->add_option("--secret-key", flags.secret_key.file,
                      "Repository with a recipient: OpenPGP secret key file that opens its data "
                      "(gpg --export-secret-keys; mode 600)");
  sk->group("Secret key (repositories with a recipient)");
  cmd->add_option(
         "--secret-key-passphrase-file", flags.secret_key.passphrase_file,
         "File holding the passphrase of a protected --secret-key, or of the key gpg-agent "
         "holds with --gpg-agent (given through loopback pinentry; mode 600)")
      ->group("Secret key (repositories with a recipient)");
  cmd->add_flag("--gpg-agent", flags.secret_key.gpg_agent,
                "Open data with the secret keys gpg-agent holds ($GNUPGHOME; smartcards too)")
      ->group("Secret key (repositories with a recipient)");
  cmd->add_option("--session-key-command", flags.secret_key.command,
                  "Command that turns an object's PKESK packets (stdin) into its session key "
                  "(stdout, ALGO:HEX); see docs/format.md")
      ->group("Secret key (repositories with a recipient)");
}

double passphrase_bits(std::string_view p) {
  bool lower = false, upper = false, digit = false, other = false;
  for (unsigned char c : p) {
    lower |= c >= 'a' && c <= 'z';
    upper |= c >= 'A' && c <= 'Z';
    digit |= c >= '0' && c <= '9';
    other |= !std::isalnum(c);
  }
  const int pool = 26 * lower + 26 * upper + 10 * digit + 33 * other;
  return pool > 0 ? static_cast<double>(p.size()) * std::log2(static_cast<double>(pool)) : 0;
}

Secret new_passphrase(const PassphraseOptions& options, const std::string& generate_to,
                      std::string_view what) {
  auto generate = [] {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    std::vector<uint8_t> raw(24);
    crypto::random_bytes(raw);
    std::string p;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (i > 0 && i % 6 == 0) p += '-';
      p += kAlphabet[raw[i] & 31];  // 5 bits each: 120 bits
    }
    Secret s(p);
    wipe(p);
    wipe(raw.data(), raw.size());
    return s;
  };
  if (!generate_to.empty()) {
    int fd = ::open(generate_to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      throw Error(
          errno == EEXIST ? Errc::kUsage : Errc::kIo,
          "cannot create " + generate_to + " for the generated passphrase: " + std::strerror(errno),
          errno == EEXIST ? "give a file that does not exist yet (it is never overwritten)"
                          : "check the path");
    }
    Secret s = generate();
    std::string line(s.view());
    line += '\n';
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                    ::fsync(fd) == 0;
    wipe(line);
    ::close(fd);
    if (!ok) throw Error(Errc::kIo, "cannot write the generated passphrase to " + generate_to);
    return s;
  }
  const bool configured = !options.file.empty() || !options.command.empty() ||
                          (options.use_env && std::getenv(options.env_var.c_str())) ||
                          (options.use_credential && std::getenv("CREDENTIALS_DIRECTORY"));
  if (!configured && isatty(0) && isatty(2)) {
    Secret s = generate();
    std::fprintf(stderr,
                 "Generated %.*s (120 random bits; shown only now, write it down or store it in a "
                 "password manager):\n\n    %.*s\n\n",
                 static_cast<int>(what.size()), what.data(), static_cast<int>(s.size()),
                 s.view().data());
    return s;
  }
  Secret s = read_passphrase(options, PromptMode::kConfirm, what);
  const double bits = passphrase_bits(s.view());
  if (bits < 64) {
    spdlog::warn(
        "the {} is weak (about {:.0f} bits): whoever copies a key file from the store can guess "
        "it offline at the cost of one S2K (65 MB of SHA-256) per guess; use --generate-passphrase "
        "FILE "
        "for a random one (docs/format.md, Key files)",
        what, bits);
  }
  return s;
}

std::shared_ptr<crypto::SessionKeyProvider> make_session_key_provider(const SecretKeyFlags& f) {
  const int n = !f.file.empty() + f.gpg_agent + !f.command.empty();
  if (n == 0) return nullptr;
  if (n > 1) {
    throw Error(Errc::kUsage, "give one of --secret-key, --gpg-agent and --session-key-command");
  }
  if (!f.command.empty()) return std::make_shared<crypto::SessionKeyCommand>(f.command);
  Secret pass;
  if (!f.passphrase_file.empty()) pass = read_secret_file(f.passphrase_file);
  if (f.gpg_agent) {
    // With a passphrase file the agent unlocks the key through loopback pinentry (unattended
    // restore hosts); without, its cache or its own pinentry.
    crypto::GpgAgentOptions o;
    o.passphrase = std::move(pass);
    return std::make_shared<crypto::GpgAgentProvider>(std::move(o));
  }
  // A key file holds secrets: the same rule as passphrase files.
  Secret data = read_secret_blob(f.file);
  return std::make_shared<crypto::SecretKeyProvider>(crypto::load_secret_key(data.bytes(), pass));
}

std::unique_ptr<store::ObjectStore> open_store_from(const GlobalOptions& g) {
  return store::open_store(g.repo, store::parse_store_options(g.options));
}

repo::Repository open_repository(const GlobalOptions& g, const RepoFlags& flags) {
  auto store = open_store_from(g);
  // Check the config before asking for a passphrase: a wrong --repo should say so first.
  repo::Repository::read_config(*store);
  Secret pass = read_passphrase(flags.passphrase, PromptMode::kOnce);
  // Outermost, so that a lock this command takes and then loses stops all of its store calls.
  auto repo =
      repo::Repository::open(std::make_unique<repo::LockFencedStore>(std::move(store)), pass);
  if (auto provider = make_session_key_provider(flags.secret_key))
    repo.set_session_key_provider(std::move(provider));
  return repo;
}

std::string catalog_path(const GlobalOptions& g) {
  return g.catalog.empty() ? repo::Catalog::default_path() : g.catalog;
}

jobs::EventLog& event_log(const GlobalOptions& g) {
  // One per process: commands run once, and the catalog stays open for every row they write.
  static std::mutex mu;
  static std::unique_ptr<jobs::EventLog> log;
  std::lock_guard<std::mutex> lk(mu);
  if (!log || log->path() != catalog_path(g))
    log = std::make_unique<jobs::EventLog>(catalog_path(g));
  return *log;
}

void record_event(const GlobalOptions& g, repo::CatalogEvent event) { event_log(g).record(event); }

void record_failure(const GlobalOptions& g, repo::CatalogEvent event, const Error& error) {
  event_log(g).record_failure(std::move(event), error);
}

namespace {
bool progress_enabled(const GlobalOptions& g) { return !g.quiet && isatty(2); }
bool g_progress_shown = false;
}  // namespace

std::function<void(const repo::Progress&)> make_progress(const GlobalOptions& g,
                                                         std::string label) {
  if (!progress_enabled(g)) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last, label](const repo::Progress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - *last < std::chrono::milliseconds(250)) return;
    *last = now;
    double rate = p.elapsed_seconds > 0 ? p.bytes_done / p.elapsed_seconds : 0;
    std::string line = label + " " + human_bytes(p.bytes_done);
    if (p.bytes_total && *p.bytes_total > 0) {
      line += fmt::format(
          " / {} ({:.0f}%)", human_bytes(*p.bytes_total),
          100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(*p.bytes_total));
    }
    line += fmt::format("  {}/s", human_bytes(static_cast<uint64_t>(rate)));
    if (p.new_chunks || p.reused_chunks) {
      line += fmt::format("  new {} reused {}", p.new_chunks, p.reused_chunks);
    }
    std::fprintf(stderr, "\r%-100s", line.c_str());
    std::fflush(stderr);
    g_progress_shown = true;
  };
}

void end_progress(const GlobalOptions& g) {
  if (progress_enabled(g) && g_progress_shown) {
    std::fprintf(stderr, "\r%-100s\r", "");
    std::fflush(stderr);
  }
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string fixed(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

std::string short_id(const std::string& id) { return id.substr(0, 8); }

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < w.size(); ++i) {
      std::string c = i < r.size() ? r[i] : "";
      s += c;
      if (i + 1 < w.size()) s += std::string(w[i] - c.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::cout << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::chrono::seconds parse_duration(const std::string& s) {
  if (s.empty()) throw Error(Errc::kUsage, "empty duration");
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &pos);
  } catch (...) {
    throw Error(Errc::kUsage, "invalid duration '" + s + "'", "use e.g. 30s, 15m, 12h, 7d");
  }
  std::string unit = s.substr(pos);
  long long mult = 1;
  if (unit == "" || unit == "s")
    mult = 1;
  else if (unit == "m")
    mult = 60;
  else if (unit == "h")
    mult = 3600;
  else if (unit == "d")
    mult = 86400;
  else if (unit == "w")
    mult = 7 * 86400;
  else
    throw Error(Errc::kUsage, "invalid duration '" + s + "'", "use e.g. 30s, 15m, 12h, 7d");
  if (n < 0) throw Error(Errc::kUsage, "negative duration '" + s + "'");
  return std::chrono::seconds(n * mult);
}

std::map<std::string, std::string> parse_tags(const std::vector<std::string>& kv) {
  std::map<std::string, std::string> out;
  for (const auto& t : kv) {
    size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(Errc::kUsage, "tag '" + t + "' is not KEY=VALUE");
    out[t.substr(0, eq)] = t.substr(eq + 1);
  }
  return out;
}

nlohmann::json snapshot_json(const repo::SnapshotInfo& s) {
  nlohmann::json j{{"id", s.id},     {"time", s.time_utc},          {"hostname", s.hostname},
                   {"node", s.node}, {"guest_id", s.guest_id},      {"guest_type", s.guest_type},
                   {"kind", s.kind}, {"file_name", s.file_name},    {"size_bytes", s.size_bytes},
                   {"tags", s.tags}, {"chunk_count", s.chunk_count}};
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : s.disks) disks.push_back({{"name", d.name}, {"size_bytes", d.size_bytes}});
  j["disks"] = disks;
  if (s.received) {
    j["received"] = {{"name", s.received->name},
                     {"compression", s.received->compression},
                     {"size_bytes", s.received->size_bytes},
                     {"sha256", s.received->sha256}};
  }
  return j;
}

}  // namespace pvesafe::cli
