#include "jobs/site_restore.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "jobs/site_drill.h"

namespace pvesafe::jobs {
namespace {

TEST(SiteRestore, ConflictPolicies) {
  EXPECT_EQ(parse_vmid_conflict("fail"), VmidConflict::kFail);
  EXPECT_EQ(parse_vmid_conflict("skip"), VmidConflict::kSkip);
  EXPECT_EQ(parse_vmid_conflict("new-id"), VmidConflict::kNewId);
  EXPECT_EQ(parse_vmid_conflict("replace"), VmidConflict::kReplace);
  EXPECT_STREQ(to_string(VmidConflict::kNewId), "new-id");
  try {
    parse_vmid_conflict("overwrite");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUsage);
  }
}

TEST(SiteRestore, NameMaps) {
  auto m = parse_name_map({"local-lvm=nvme-thin", "ceph-vm=rbd,a=b"}, "--storage-map");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["local-lvm"], "nvme-thin");
  EXPECT_EQ(m["ceph-vm"], "rbd");
  EXPECT_EQ(m["a"], "b");
  for (const char* bad : {"nvme", "=x", "x=", ""}) {
    if (std::string(bad).empty()) continue;
    EXPECT_THROW(parse_name_map({bad}, "--storage-map"), Error) << bad;
  }
}

SiteGuestResult guest(uint64_t size, uint64_t fetched, uint64_t disk, pve::DrillStages s) {
  SiteGuestResult g;
  g.status = "ok";
  g.plan.disk_bytes = disk;
  g.recovery.size_bytes = size;
  g.recovery.fetched_bytes = fetched;
  g.recovery.stages = s;
  return g;
}

TEST(SiteDrill, PredictionScalesDataStagesAndSharesTheLink) {
  SiteRestoreResult r;
  r.jobs = 2;
  r.plan_seconds = 1;
  // Two guests: 100 MB archives, 50 MB fetched each, disks of 1 GB and 3 GB.
  pve::DrillStages s;
  s.lookup = 0.5;
  s.fetch = 2;
  s.decrypt_verify = 1;
  s.provision = 3;
  s.boot = 4;
  s.health = 0.5;
  r.guests.push_back(guest(100'000'000, 50'000'000, 1'000'000'000, s));
  r.guests.push_back(guest(100'000'000, 50'000'000, 3'000'000'000, s));
  SiteGuestResult missing;
  missing.status = "missing";
  r.guests.push_back(missing);

  // At 125 MB/s: transfer = (1e9*0.5 + 3e9*0.5) / 125e6 = 16 s; k = 10 and 30;
  // work = ((1+3)*10 + 5 + (1+3)*30 + 5) / 2 = 85 s; RTO = 1 + 16 + 85.
  auto p = predict_site_rto(r, 0, 125e6);
  EXPECT_DOUBLE_EQ(p.transfer, 16);
  EXPECT_DOUBLE_EQ(p.work, 85);
  EXPECT_DOUBLE_EQ(p.rto, 102);
  EXPECT_EQ(p.disk_bytes, 4'000'000'000u);
  // Without a link: the measured fetch scaled, shared by the jobs: (2*10 + 2*30) / 2 = 40 s.
  EXPECT_DOUBLE_EQ(predict_site_rto(r, 0, 0).transfer, 40);
  // A total of 8 GB keeps the proportions (2 GB and 6 GB): every scaled stage doubles.
  auto t = predict_site_rto(r, 8'000'000'000, 125e6);
  EXPECT_DOUBLE_EQ(t.transfer, 32);
  EXPECT_DOUBLE_EQ(t.work, (4.0 * 20 + 5 + 4.0 * 60 + 5) / 2);
  EXPECT_EQ(t.disk_bytes, 8'000'000'000u);
}

TEST(SiteDrill, FixedTaskCostIsNotScaledWhenSizesSpread) {
  // Provision = 2 s + 1 s per 100 MB, decrypt/verify = 1 s per 100 MB, at three sizes: the line
  // is found, so a 1 GB disk predicts 2 + 10 s, not the 100 MB guest's 3 s * 10.
  SiteRestoreResult r;
  r.jobs = 1;
  for (uint64_t mb : {100, 200, 400}) {
    pve::DrillStages s;
    s.provision = 2 + static_cast<double>(mb) / 100;
    s.decrypt_verify = static_cast<double>(mb) / 100;
    r.guests.push_back(guest(mb * 1'000'000, mb * 1'000'000, 1'000'000'000, s));
  }
  auto p = predict_site_rto(r, 0, 1e9);
  EXPECT_TRUE(p.fitted);
  // Per guest: provision' = 2 + 10, decrypt' = 10 (a = 0): work = 3 * 22.
  EXPECT_NEAR(p.work, 66, 1e-6);
  EXPECT_NEAR(p.transfer, 3.0, 1e-9);  // 3 GB at 1 GB/s
  // Equal sizes (the first test): no line, proportional scaling.
  SiteRestoreResult same = r;
  for (auto& g : same.guests) g.recovery.size_bytes = 100'000'000;
  EXPECT_FALSE(predict_site_rto(same, 0, 1e9).fitted);
}

TEST(SiteDrill, StageTotalsCountOnlyGuestsThatRan) {
  SiteRestoreResult r;
  pve::DrillStages s;
  s.fetch = 1.5;
  s.boot = 2;
  r.guests.push_back(guest(1, 1, 1, s));
  r.guests.push_back(guest(1, 1, 1, s));
  SiteGuestResult skipped;
  skipped.status = "skipped";
  skipped.recovery.stages.fetch = 100;
  r.guests.push_back(skipped);
  auto t = stage_totals(r);
  EXPECT_EQ(t.guests, 2);
  EXPECT_DOUBLE_EQ(t.sum.fetch, 3);
  EXPECT_DOUBLE_EQ(t.sum.boot, 4);
}

}  // namespace
}  // namespace pvesafe::jobs
