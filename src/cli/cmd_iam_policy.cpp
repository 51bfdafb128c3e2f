// pvesafe iam-policy: prints a least-privilege IAM policy (JSON) for a repository at
// s3://BUCKET/PREFIX, per role (store/s3/iam_policy.h): backup hosts (default: write, never
// delete), restore hosts (read only), the admin host that prunes (deletes, never bypasses
// retention). tests/s3/writeonly_rgw.sh applies them to a real gateway's users (not yet in
// the suite).
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
  cmd->add_option(
         "--role", req->role,
         "backup (default: write and extend retention, never delete), restore (read only), "
         "admin (forget, prune, gc: may delete, never bypass retention)")
      ->check(CLI::IsMember({"backup", "restore", "admin"}));
  cmd->add_flag("--immutable", req->immutable, "Same as --role backup");
  cmd->add_flag("--read-only", req->read_only, "Same as --role restore");
  cmd->callback([req] { std::cout << store::s3::iam_policy(*req).dump(2) << "\n"; });
}

}  // namespace pvesafe::cli
