// Least-privilege IAM policies for a pvesafe repository at s3://bucket/prefix, one per role:
//   backup   (default) backup hosts: list the prefix (and its versions), read, write new objects
//            with retention, extend retention; never delete anything but lock objects
//            (prefix/locks/), never bypass governance retention, never change the bucket's lock,
//            versioning, lifecycle or policy. With Object Lock and versioning, an overwrite is a
//            new version beside the locked original, which pvesafe reads (docs/s3.md).
//   restore  restore hosts: list and read (current and earlier versions), nothing else
//   admin    the host that forgets, prunes and collects garbage: also deletes under the prefix,
//            but may not bypass governance retention either
// Nothing outside the prefix is granted. `--immutable` and `--read-only` are the old names of
// backup and restore.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace pvesafe::store::s3 {

struct IamPolicyRequest {
  std::string bucket;
  std::string prefix;  // "" for the whole bucket
  bool immutable = false;  // role backup
  bool read_only = false;  // role restore
  std::string role;        // backup | restore | admin; "" = from the flags above, else backup
};

nlohmann::ordered_json iam_policy(const IamPolicyRequest& request);

}  // namespace pvesafe::store::s3
