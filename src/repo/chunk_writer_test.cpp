// ChunkWriter: every new chunk lands in exactly one pack, and packs hold chunks in ticket order
// (restore reads a run of a pack in one request), whichever worker finishes first.
#include "repo/chunk_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>

#include "repo/chunk_index.h"
#include "repo/layout.h"
#include "repo/pack.h"
#include "repo/repository.h"
#include "store/local/local_store.h"

namespace pvesafe::repo {
namespace {

TEST(ChunkWriter, PacksEveryNewChunkOnceInTicketOrder) {
  char tmpl[] = "/tmp/pvesafe-chunk-writer-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  InitOptions io;
  io.pack_bytes = 1 << 20;  // the least a repository takes: several packs from a few MiB
  auto repo = Repository::init(store::make_local_store(dir), Secret("ticket order"), io);
  const ChunkIndex known;
  std::mt19937_64 rng(3);
  // Chunks of very different sizes, so the workers finish out of order; every fifth from the
  // 150th on repeats a chunk at least 100 tickets back. A repeat within the workers' window
  // (72 tickets with four) may be claimed by either occurrence, and the chunk packed at that
  // one's place; from further back the first occurrence has always claimed it, so packs must
  // follow first occurrences exactly.
  std::vector<std::shared_ptr<std::vector<uint8_t>>> chunks;
  std::vector<size_t> tickets;
  {
    ChunkWriter writer(repo, known, 4);
    for (int i = 0; i < 600; ++i) {
      std::shared_ptr<std::vector<uint8_t>> c;
      if (i >= 150 && i % 5 == 4) {
        c = chunks[rng() % (chunks.size() - 100)];
      } else {
        c = std::make_shared<std::vector<uint8_t>>(1 + rng() % (i % 7 == 0 ? 200000 : 20000));
        for (auto& b : *c) b = static_cast<uint8_t>(rng());
      }
      chunks.push_back(c);
      tickets.push_back(writer.add(*c, c));
    }
    const auto stats = writer.finish();

    // The first occurrence of each chunk, in ticket order: the order packs must keep.
    std::unordered_map<ChunkId, size_t, ChunkIdHash> position;
    for (size_t t : tickets) position.emplace(writer.id(t), position.size());
    EXPECT_EQ(stats.new_chunks, position.size());
    EXPECT_EQ(stats.reused_chunks, tickets.size() - position.size());

    std::map<size_t, size_t> runs;  // first position of each pack's run -> its length
    repo.store().list(std::string(layout::kPacks), [&](const store::ObjectInfo& o) {
      const std::string id = o.key.substr(o.key.find_last_of('/') + 1);
      const auto bytes = repo.store().get(o.key);
      const auto entries = parse_pack(repo, id, bytes);
      ASSERT_FALSE(entries.empty()) << o.key;
      ASSERT_TRUE(position.count(entries.front().id)) << o.key << " holds a chunk never added";
      const size_t first = position.at(entries.front().id);
      for (size_t k = 0; k < entries.size(); ++k) {
        ASSERT_TRUE(position.count(entries[k].id)) << o.key << " holds a chunk never added";
        EXPECT_EQ(position.at(entries[k].id), first + k) << o.key << " entry " << k;
      }
      EXPECT_TRUE(runs.emplace(first, entries.size()).second) << "two packs start at " << first;
    });
    size_t next = 0;
    for (const auto& [first, length] : runs) {
      EXPECT_EQ(first, next) << "chunks missing or stored twice before position " << first;
      next = first + length;
    }
    EXPECT_EQ(next, position.size());
    EXPECT_GE(runs.size(), 3u);
    EXPECT_EQ(stats.packs, runs.size());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pvesafe::repo
