#include "jobs/backup_security.h"

#include "core/error.h"
#include "repo/repository.h"

namespace pvesafe::jobs {

RepositorySecurity inspect_repository(std::unique_ptr<store::ObjectStore> store,
                                      const Secret& passphrase) {
  RepositorySecurity r;
  r.location = store->location();
  r.s3 = r.location.starts_with("s3://");
  auto config = repo::Repository::read_config(*store);
  r.format = config.version;
  r.recipient = config.recipient;
  if (store::ObjectLock* lock = store->object_lock()) {
    r.object_lock = lock->enabled();
    r.versioning = lock->versioning();
    if (auto rule = lock->rule()) {
      r.retention_days = static_cast<double>(rule->period.count()) / 86400.0;
      r.compliance = rule->compliance;
    }
  }
  if (!passphrase.empty()) {
    auto repo = repo::Repository::open(std::move(store), passphrase);
    r.key_mode = std::string(repo::key_mode_name(repo.key_mode()));
  }
  return r;
}

std::vector<cluster::Finding> security_findings(const RepositorySecurity& r) {
  using cluster::Severity;
  std::vector<cluster::Finding> out;
  auto add = [&](Severity s, std::string message, std::string remedy) {
    out.push_back({s, "backup-security", r.location, "", std::move(message), std::move(remedy)});
  };
  if (r.recipient.empty()) {
    add(Severity::kWarning,
        "backup hosts hold secrets that read every backup: each key file of this format " +
            std::to_string(r.format) +
            " repository opens all data, so root on any backup host reads all earlier backups",
        "create a repository with pvesafe init --recipient KEY and give backup hosts pvesafe key "
        "add --write-only keys");
  } else if (r.key_mode && *r.key_mode == "full") {
    add(Severity::kInfo,
        "data is encrypted to key " + r.recipient +
            "; this host's key is full (right for a restore or admin host, "
            "not for a backup host)",
        "on backup hosts use a key made with pvesafe key add --write-only");
  } else {
    add(Severity::kOk,
        "data is encrypted to key " + r.recipient +
            (r.key_mode ? "; this host's key is write-only: it cannot read any backup" : ""),
        "keep the secret key off backup hosts");
  }
  if (!r.s3) {
    add(Severity::kWarning,
        "a directory repository has no Object Lock: whoever is root where it is mounted can delete "
        "every backup",
        "keep an offsite copy in an S3 bucket with Object Lock (docs/s3.md)");
    return out;
  }
  if (!r.object_lock) {
    add(Severity::kWarning,
        "the bucket has no Object Lock: S3 keys that may delete can destroy every backup",
        "use a bucket created with Object Lock (-o s3.create-bucket=true with s3.retention-days) "
        "and the backup IAM role");
  } else if (!r.retention_days) {
    add(Severity::kWarning,
        "Object Lock is enabled but no retention applies (no s3.retention-days, no bucket default "
        "rule)",
        "set -o s3.retention-days=N on backup hosts or a default retention on the bucket");
  } else {
    add(Severity::kOk,
        "Object Lock " + std::string(r.compliance ? "COMPLIANCE" : "GOVERNANCE") + ", retention " +
            std::to_string(static_cast<int>(*r.retention_days + 0.5)) + " days, versioning " +
            (r.versioning.empty() ? "off" : r.versioning),
        r.compliance ? "nobody can delete a locked object before its date"
                     : "GOVERNANCE: keys with s3:BypassGovernanceRetention can still delete; deny "
                       "it (pvesafe iam-policy)");
  }
  if (r.versioning != "Enabled") {
    add(Severity::kWarning,
        "bucket versioning is " + (r.versioning.empty() ? std::string("off") : r.versioning) +
            ": an overwrite replaces an object for good",
        "enable versioning (Object Lock buckets have it on)");
  }
  return out;
}

}  // namespace pvesafe::jobs
