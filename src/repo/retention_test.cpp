#include "repo/retention.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <set>

namespace pvesafe::repo {
namespace {

// Periods are local time. The cases below are written in UTC; each test sets its zone.
class ZoneGuard {
 public:
  explicit ZoneGuard(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old, had_ = true;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ZoneGuard() {
    if (had_) setenv("TZ", old_.c_str(), 1); else unsetenv("TZ");
    tzset();
  }

 private:
  std::string old_;
  bool had_ = false;
};

class Retention : public ::testing::Test {
  ZoneGuard utc_{"UTC0"};
};

SnapshotInfo snap(const std::string& time, const std::string& guest = "100") {
  SnapshotInfo s;
  s.time_utc = time;
  s.time = *parse_utc(time);
  s.id = time;  // readable ids for the test
  s.guest_id = guest;
  s.guest_type = "qemu";
  return s;
}

std::set<std::string> kept(const std::vector<RetentionDecision>& d) {
  std::set<std::string> k;
  for (const auto& x : d)
    if (x.keep) k.insert(x.snapshot.id);
  return k;
}

std::vector<SnapshotInfo> ten_days() {
  // 2026-11-01 .. 2026-11-10 at 01:00, plus a second one on the 10th at 13:00.
  std::vector<SnapshotInfo> v;
  for (int d = 1; d <= 10; ++d) {
    char buf[32];
    snprintf(buf, sizeof buf, "2026-11-%02dT01:00:00Z", d);
    v.push_back(snap(buf));
  }
  v.push_back(snap("2026-11-10T13:00:00Z"));
  return v;
}

TEST_F(Retention, LastAndDaily) {
  KeepPolicy p;
  p.last = 2;
  p.daily = 3;
  auto d = apply_retention(ten_days(), p);
  EXPECT_EQ(kept(d), (std::set<std::string>{"2026-11-10T13:00:00Z", "2026-11-10T01:00:00Z",
                                            "2026-11-09T01:00:00Z", "2026-11-08T01:00:00Z",
                                            "2026-11-07T01:00:00Z"}));
}

TEST_F(Retention, WeeklyCountsOnlyWeeksNotAlreadyCovered) {
  // ISO weeks: 2026-11-01 (Sunday) is in W44, 11-02..11-08 in W45, 11-09..11-10 in W46.
  KeepPolicy p;
  p.last = 2;
  p.daily = 3;
  p.weekly = 2;
  auto d = apply_retention(ten_days(), p);
  EXPECT_EQ(kept(d), (std::set<std::string>{"2026-11-10T13:00:00Z", "2026-11-10T01:00:00Z",
                                            "2026-11-09T01:00:00Z", "2026-11-08T01:00:00Z",
                                            "2026-11-07T01:00:00Z", "2026-11-01T01:00:00Z"}));
  for (const auto& x : d) {
    if (x.snapshot.id == "2026-11-01T01:00:00Z") {
      EXPECT_EQ(x.reason, "weekly");
    }
  }
}

TEST_F(Retention, MonthlyKeepsNewestOfEachMonth) {
  KeepPolicy p;
  p.monthly = 2;
  auto d = apply_retention({snap("2026-10-31T23:00:00Z"), snap("2026-11-01T01:00:00Z"),
                            snap("2026-11-10T01:00:00Z"), snap("2026-09-15T01:00:00Z")},
                           p);
  EXPECT_EQ(kept(d), (std::set<std::string>{"2026-11-10T01:00:00Z", "2026-10-31T23:00:00Z"}));
}

TEST_F(Retention, HourlyAndYearly) {
  KeepPolicy p;
  p.hourly = 2;
  p.yearly = 1;
  auto d = apply_retention({snap("2025-06-01T00:00:00Z"), snap("2026-11-10T10:15:00Z"),
                            snap("2026-11-10T10:45:00Z"), snap("2026-11-10T11:05:00Z"),
                            snap("2026-11-10T09:00:00Z")},
                           p);
  // Hours 11 and 10 (newest of 10 is 10:45); yearly: 2026 is covered, so the newest of 2025.
  EXPECT_EQ(kept(d), (std::set<std::string>{"2026-11-10T11:05:00Z", "2026-11-10T10:45:00Z",
                                            "2025-06-01T00:00:00Z"}));
}

TEST_F(Retention, NoPolicyKeepsAll) {
  auto d = apply_retention(ten_days(), KeepPolicy{});
  EXPECT_EQ(kept(d).size(), 11u);
}

TEST_F(Retention, GroupsAreIndependent) {
  KeepPolicy p;
  p.last = 1;
  auto d = apply_retention_grouped({snap("2026-11-01T01:00:00Z", "100"), snap("2026-11-02T01:00:00Z", "100"),
                                    snap("2026-11-01T02:00:00Z", "101")},
                                   p);
  EXPECT_EQ(kept(d), (std::set<std::string>{"2026-11-02T01:00:00Z", "2026-11-01T02:00:00Z"}));
}

// 21:30 and 22:30 UTC are one UTC day but two days two hours east of Greenwich (23:30 and
// 00:30 local): keep-daily 2 keeps both there, and only the newer one in UTC.
TEST(RetentionZone, DaysAreLocalDays) {
  std::vector<SnapshotInfo> v{snap("2026-11-24T21:30:00Z"), snap("2026-11-24T22:30:00Z")};
  KeepPolicy p;
  p.daily = 2;
  {
    ZoneGuard east("XST-2");  // POSIX zone UTC+2, no tzdata needed
    EXPECT_EQ(kept(apply_retention(v, p)),
              (std::set<std::string>{"2026-11-24T21:30:00Z", "2026-11-24T22:30:00Z"}));
  }
  {
    ZoneGuard utc("UTC0");
    EXPECT_EQ(kept(apply_retention(v, p)), (std::set<std::string>{"2026-11-24T22:30:00Z"}));
  }
}

}  // namespace
}  // namespace pvesafe::repo
