// The IAM policies printed by `pvesafe iam-policy`.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "store/s3/iam_policy.h"

using namespace pvesafe;
using namespace pvesafe::store::s3;
using json = nlohmann::ordered_json;

namespace {
// Every action allowed (or denied) on a resource, flattened.
std::set<std::string> actions(const json& policy, const std::string& effect) {
  std::set<std::string> out;
  for (const auto& st : policy["Statement"]) {
    if (st["Effect"] != effect) continue;
    for (const auto& a : st["Action"]) out.insert(a.get<std::string>());
  }
  return out;
}
}  // namespace

TEST(IamPolicy, AdminHostsMayReadWriteAndDeleteOnlyUnderThePrefix) {
  json p = iam_policy({"backups", "/pve/cluster1/", false, false, "admin"});
  EXPECT_EQ(p["Version"], "2012-10-17");
  auto allow = actions(p, "Allow");
  for (const char* a : {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                        "s3:AbortMultipartUpload", "s3:GetBucketObjectLockConfiguration"}) {
    EXPECT_TRUE(allow.count(a)) << a;
  }
  EXPECT_FALSE(allow.count("s3:*"));
  EXPECT_FALSE(allow.count("s3:DeleteBucket"));
  EXPECT_FALSE(allow.count("s3:BypassGovernanceRetention"));
  EXPECT_TRUE(actions(p, "Deny").count("s3:BypassGovernanceRetention"));
  for (const auto& st : p["Statement"]) {
    if (st["Sid"] == "ListRepository") {
      EXPECT_EQ(st["Resource"], "arn:aws:s3:::backups");
      EXPECT_EQ(st["Condition"]["StringLike"]["s3:prefix"][0], "pve/cluster1/*");
    }
    if (st["Sid"] == "ManageRepository") {
      EXPECT_EQ(st["Resource"], "arn:aws:s3:::backups/pve/cluster1/*");
    }
  }
}

TEST(IamPolicy, BackupRoleIsTheDefaultAndNeverDeletesBackupsOrWeakensRetention) {
  EXPECT_EQ(iam_policy({"backups", "pve", true, false}),
            iam_policy({"backups", "pve", false, false}));
  json p = iam_policy({"backups", "pve", true, false});
  auto deny = actions(p, "Deny");
  EXPECT_TRUE(deny.count("s3:DeleteObject"));
  EXPECT_TRUE(deny.count("s3:DeleteObjectVersion"));
  EXPECT_TRUE(deny.count("s3:BypassGovernanceRetention"));
  EXPECT_TRUE(deny.count("s3:PutBucketObjectLockConfiguration"));
  auto allow = actions(p, "Allow");
  EXPECT_TRUE(allow.count("s3:PutObjectRetention"));
  for (const auto& st : p["Statement"]) {
    if (st["Sid"] == "ReleaseOwnLocks") {
      EXPECT_EQ(st["Resource"], "arn:aws:s3:::backups/pve/locks/*");
    }
    if (st["Sid"] == "NeverDeleteBackups") {
      EXPECT_EQ(st["NotResource"], "arn:aws:s3:::backups/pve/locks/*");
    }
  }
}

TEST(IamPolicy, ReadOnlyForRestoreHosts) {
  json p = iam_policy({"backups", "", false, true});
  auto allow = actions(p, "Allow");
  EXPECT_EQ(allow, (std::set<std::string>{
                       "s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject",
                       "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetBucketLocation",
                       "s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning"}));
  for (const auto& st : p["Statement"]) {
    EXPECT_FALSE(st.contains("Condition"));  // whole bucket
    if (st["Sid"] == "ReadRepository") {
      EXPECT_EQ(st["Resource"], "arn:aws:s3:::backups/*");
    }
  }
}

TEST(IamPolicy, RejectsBadInput) {
  EXPECT_THROW(iam_policy({"", "p", false, false}), Error);
  EXPECT_THROW(iam_policy({"b/x", "p", false, false}), Error);
  EXPECT_THROW(iam_policy({"b", "p*", false, false}), Error);
  EXPECT_THROW(iam_policy({"b", "p", true, true}), Error);
}
