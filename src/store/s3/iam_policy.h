// Least-privilege IAM policies for a pvesafe repository at s3://bucket/prefix.
//   backup hosts:   list the prefix, read/write/delete objects under it, multipart cleanup
//   --immutable:    backup hosts of an Object Lock bucket: may write (with retention) but never
//                   delete or shorten retention, except their own lock objects (prefix/locks/)
//   --read-only:    restore hosts: list and read, nothing else
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace pvesafe::store::s3 {

struct IamPolicyRequest {
  std::string bucket;
  std::string prefix;  // "" for the whole bucket
  bool immutable = false;
  bool read_only = false;
};

nlohmann::ordered_json iam_policy(const IamPolicyRequest& request);

}  // namespace pvesafe::store::s3
