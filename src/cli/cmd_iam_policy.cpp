// pvesafe iam-policy: prints a least-privilege IAM policy (JSON) for a repository at
// s3://BUCKET/PREFIX: for backup hosts by default, --immutable for backup hosts that must never
// delete (Object Lock buckets), --read-only for restore hosts.
#include <iostream>

#include "cli/command.h"
#include "store/s3/iam_policy.h"

namespace pvesafe::cli {

void register_iam_policy(CLI::App& app, GlobalOptions& /*global*/) {
  auto* cmd = app.add_subcommand(
      "iam-policy", "Print a least-privilege IAM policy for an S3 repository (backup or restore hosts)");
  auto req = std::make_shared<store::s3::IamPolicyRequest>();
  cmd->add_option("--bucket", req->bucket, "Bucket of the repository")->required();
  cmd->add_option("--prefix", req->prefix, "Prefix of the repository in the bucket (default: none)");
  cmd->add_flag("--immutable", req->immutable,
                "Backup hosts that may write with retention but never delete or weaken retention");
  cmd->add_flag("--read-only", req->read_only, "Restore hosts: list and read only");
  cmd->callback([req] { std::cout << store::s3::iam_policy(*req).dump(2) << "\n"; });
}

}  // namespace pvesafe::cli
