#include "core/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace pvesafe {
namespace {

using namespace std::chrono_literals;

TEST(BoundedQueue, KeepsOrderAndDrainsAfterClose) {
  BoundedQueue<int> q(4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.push(i));
  q.close();
  EXPECT_FALSE(q.push(9));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_EQ(q.pop(), std::nullopt);
}

// A producer stalled on a full queue resumes once the queue is half empty, not at the first
// free slot: one wake-up per half a queue.
TEST(BoundedQueue, StalledProducerResumesAtHalf) {
  BoundedQueue<int> q(8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.push(i));
  std::atomic<bool> started{false}, pushed{false};
  std::thread producer([&] {
    started = true;
    q.push(8);
    pushed = true;
  });
  while (!started) std::this_thread::yield();
  std::this_thread::sleep_for(100ms);  // the producer is waiting in push() by now
  EXPECT_FALSE(pushed);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(q.pop(), i);
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(pushed) << "resumed with " << 7 - i << " items queued";
  }
  EXPECT_EQ(q.pop(), 3);  // 4 left: half
  producer.join();
  EXPECT_TRUE(pushed);
  for (int i = 4; i <= 8; ++i) EXPECT_EQ(q.pop(), i);
}

// Many producers and consumers: every item arrives once, nobody is left waiting.
TEST(BoundedQueue, ManyProducersAndConsumersLoseNothing) {
  for (size_t capacity : {1u, 2u, 3u, 16u}) {
    BoundedQueue<int> q(capacity);
    constexpr int kProducers = 3, kEach = 5000;
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> consumers, producers;
    for (int c = 0; c < 3; ++c) {
      consumers.emplace_back([&] {
        while (auto v = q.pop()) {
          sum += *v;
          ++count;
        }
      });
    }
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < kEach; ++i) ASSERT_TRUE(q.push(p * kEach + i));
      });
    }
    for (auto& t : producers) t.join();
    q.close();
    for (auto& t : consumers) t.join();
    const long n = long{kProducers} * kEach;
    EXPECT_EQ(count, n) << "capacity " << capacity;
    EXPECT_EQ(sum, n * (n - 1) / 2) << "capacity " << capacity;
  }
}

TEST(BoundedQueue, AbortWakesAStalledProducer) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.push(1));
  ASSERT_TRUE(q.push(2));
  std::atomic<int> result{-1};
  std::thread producer([&] { result = q.push(3) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  q.abort();
  producer.join();
  EXPECT_EQ(result, 0);
  EXPECT_EQ(q.pop(), std::nullopt);
}

}  // namespace
}  // namespace pvesafe
