// Makes a long sequential write durable while it is still being written.
//
// A restore writes gigabytes and then fsyncs, so that a finished restore survives a crash. With a
// device that caches writes (most virtual disks, many SSDs), that final fsync waits for the whole
// cache to reach stable storage: on the machines measured it took 0.3 to 0.9 s for half a GiB,
// after the data was written, with nothing else left to overlap it. BackgroundSync calls
// fdatasync on its own thread every `every` bytes written, while the writer goes on, so the cache
// drains while the next data is still being fetched and decoded, and the final fsync finds little
// left to do. It never blocks the writer: a trigger that comes while a sync runs is merged with
// the next one. After each sync, the synced range is dropped from the page cache (it is clean
// then), so a restore written through the cache does not push out the working set of the guests
// running on the same node.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace pvesafe {

class BackgroundSync {
 public:
  // `fd` stays owned by the caller and open until stop() (or the destructor) returns.
  BackgroundSync(int fd, uint64_t every);
  ~BackgroundSync();  // stop(), result dropped
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;

  // Counts `n` more bytes written, the file now reaching offset `end`; wakes the syncing thread
  // (started on first use) every `every` bytes.
  void wrote(uint64_t n, uint64_t end);
  // Waits for a sync in progress and ends the thread. Returns 0, or the errno of the first sync
  // that failed: that error is gone from the file once reported, so a later fsync may not see it.
  [[nodiscard]] int stop();
  // Syncs completed so far.
  uint64_t syncs() const;

 private:
  void run();

  int fd_;
  uint64_t every_;
  uint64_t since_ = 0;    // bytes counted since the last trigger (writer thread only)
  uint64_t end_ = 0;      // offset reached at the last trigger
  uint64_t dropped_ = 0;  // cached pages before this offset were dropped (syncing thread only)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false, stopping_ = false;
  int error_ = 0;
  uint64_t syncs_ = 0;
  std::thread thread_;
};

}  // namespace pvesafe
