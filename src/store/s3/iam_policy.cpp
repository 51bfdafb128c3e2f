#include "store/s3/iam_policy.h"

#include "core/error.h"

namespace pvesafe::store::s3 {

nlohmann::ordered_json iam_policy(const IamPolicyRequest& r) {
  if (r.bucket.empty()) throw Error(Errc::kUsage, "iam-policy needs --bucket");
  if (r.bucket.find_first_of("/*?") != std::string::npos) {
    throw Error(Errc::kUsage, "invalid bucket name '" + r.bucket + "'");
  }
  if (r.read_only && r.immutable) {
    throw Error(Errc::kUsage, "--read-only and --immutable exclude each other",
                "a read-only policy never deletes anything anyway");
  }
  std::string role = r.role;
  if (role.empty()) role = r.read_only ? "restore" : "backup";
  if ((r.read_only && role != "restore") || (r.immutable && role != "backup")) {
    throw Error(Errc::kUsage, "--role " + role + " contradicts --read-only/--immutable");
  }
  if (role != "backup" && role != "restore" && role != "admin") {
    throw Error(Errc::kUsage, "unknown role '" + role + "'", "use backup, restore or admin");
  }
  std::string prefix = r.prefix;
  while (prefix.starts_with("/")) prefix.erase(0, 1);
  while (prefix.ends_with("/")) prefix.pop_back();
  if (prefix.find_first_of("*?") != std::string::npos) {
    throw Error(Errc::kUsage, "the prefix must not contain wildcards");
  }
  const std::string bucket_arn = "arn:aws:s3:::" + r.bucket;
  const std::string base = bucket_arn + "/" + (prefix.empty() ? "" : prefix + "/");
  const std::string objects_arn = base + "*";
  const std::string locks_arn = base + "locks/*";

  nlohmann::ordered_json list = {{"Sid", "ListRepository"},
                                 {"Effect", "Allow"},
                                 {"Action", {"s3:ListBucket", "s3:ListBucketVersions"}},
                                 {"Resource", bucket_arn}};
  if (!prefix.empty()) {
    list["Condition"] = {{"StringLike", {{"s3:prefix", {prefix + "/*"}}}}};
  }
  nlohmann::ordered_json bucket_info = {
      {"Sid", "BucketSettings"},
      {"Effect", "Allow"},
      {"Action",
       {"s3:GetBucketLocation", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning"}},
      {"Resource", bucket_arn}};
  nlohmann::ordered_json statements = nlohmann::ordered_json::array();
  statements.push_back(list);
  statements.push_back(bucket_info);
  const nlohmann::ordered_json read = {"s3:GetObject", "s3:GetObjectVersion",
                                       "s3:GetObjectRetention"};
  // Nobody holding these keys may undo Object Lock, the bucket's protections, or a locked object.
  nlohmann::ordered_json never = {
      {"Sid", "NeverWeakenRetention"},
      {"Effect", "Deny"},
      {"Action",
       {"s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy", "s3:DeleteBucket"}},
      {"Resource", {bucket_arn, bucket_arn + "/*"}}};

  if (role == "restore") {
    statements.push_back({{"Sid", "ReadRepository"},
                          {"Effect", "Allow"},
                          {"Action", read},
                          {"Resource", objects_arn}});
  } else if (role == "backup") {
    nlohmann::ordered_json write = read;
    for (const char* a : {"s3:PutObject", "s3:PutObjectRetention", "s3:AbortMultipartUpload",
                          "s3:ListMultipartUploadParts"}) {
      write.push_back(a);
    }
    statements.push_back({{"Sid", "WriteRepositoryWithRetention"},
                          {"Effect", "Allow"},
                          {"Action", write},
                          {"Resource", objects_arn}});
    statements.push_back({{"Sid", "ReleaseOwnLocks"},
                          {"Effect", "Allow"},
                          {"Action", {"s3:DeleteObject", "s3:DeleteObjectVersion"}},
                          {"Resource", locks_arn}});
    statements.push_back({{"Sid", "NeverDeleteBackups"},
                          {"Effect", "Deny"},
                          {"Action", {"s3:DeleteObject", "s3:DeleteObjectVersion"}},
                          {"NotResource", locks_arn}});
    statements.push_back(never);
  } else {
    nlohmann::ordered_json all = read;
    for (const char* a :
         {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention",
          "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}) {
      all.push_back(a);
    }
    statements.push_back({{"Sid", "ManageRepository"},
                          {"Effect", "Allow"},
                          {"Action", all},
                          {"Resource", objects_arn}});
    statements.push_back(never);
  }
  return {{"Version", "2012-10-17"}, {"Statement", statements}};
}

}  // namespace pvesafe::store::s3
