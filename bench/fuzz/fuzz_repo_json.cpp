// The repository's other JSON readers, through the public API as they are called: the first
// byte picks the object, the rest is its (decrypted) content.
//   'c'  config            Repository::read_config (plaintext object)
//   'k'  key file          Repository::open (the content encrypted under the passphrase)
//   'l'  lock              list_locks (the content sealed under the data key)
//   'g'  gc pending list   collect_garbage (dry run; the content sealed under the data key)
// The format of these objects is about to change: each case stays a thin call into the reader.
#include <memory>

#include "core/secret.h"
#include "crypto/openpgp.h"
#include "fuzz_target.h"
#include "memory_store.h"
#include "repo/gc.h"
#include "repo/layout.h"
#include "repo/lock.h"
#include "repo/repository.h"

namespace {

using namespace pvesafe;

constexpr std::string_view kConfig =
    "{\"format\": 1, \"id\": \"0123456789abcdef0123456789abcdef\", \"created\": "
    "\"2026-01-01T00:00:00Z\", \"chunker\": {\"min_size_bytes\": 524288, \"avg_size_bytes\": "
    "2097152, \"max_size_bytes\": 8388608}}";

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// One repository for the whole run (its key file takes a strong S2K to write); its store is
// reached through Repository::store().
repo::Repository& shared_repo() {
  static repo::Repository r =
      repo::Repository::init(std::make_unique<fuzz::MemoryStore>(), Secret("fuzz"));
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> content(data + 1, size - 1);
  switch (data[0]) {
    case 'c': {
      fuzz::MemoryStore st;
      st.put("config", content);
      fuzz::refusal_ok([&] { repo::Repository::read_config(st); });
      break;
    }
    case 'k': {
      auto st = std::make_unique<fuzz::MemoryStore>();
      st->put("config", bytes(kConfig));
      st->put("keys/0123456789abcdef0123456789abcdef",
              crypto::encrypt_message(content, "fuzz", crypto::S2kStrength::kFast));
      fuzz::refusal_ok([&] { repo::Repository::open(std::move(st), Secret("fuzz")); });
      break;
    }
    case 'l': {
      auto& r = shared_repo();
      r.save("locks/0123456789abcdef0123456789abcdef", content);
      fuzz::refusal_ok([&] { repo::list_locks(r); });
      r.store().remove("locks/0123456789abcdef0123456789abcdef");
      break;
    }
    case 'g': {
      auto& r = shared_repo();
      const std::string chunk(64, 'a');
      r.store().put(repo::layout::loose_chunk(chunk), bytes("x"));
      r.save("gc/pending", content);
      repo::GcOptions o;
      o.dry_run = true;
      fuzz::refusal_ok([&] { repo::collect_garbage(r, o); });
      break;
    }
    default:
      break;
  }
  return 0;
}
