// The backup-security section of `pvesafe audit` (docs/audit.md): for each repository, whether a
// backup host holds secrets that read the data (a repository without a recipient: every key
// does), which mode this host's key has, and whether the store keeps backups from being deleted
// (S3 Object Lock, versioning, the retention a snapshot gets). Reads only: the plaintext config,
// the bucket's settings and, with a passphrase, this host's key file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/audit_finding.h"
#include "core/secret.h"
#include "store/object_store.h"

namespace pvesafe::jobs {

struct RepositorySecurity {
  std::string location;
  int format = 0;
  std::string recipient;                // fingerprint, "" without
  std::optional<std::string> key_mode;  // of this host's key, when a passphrase was given
  bool object_lock = false;
  std::string versioning;  // Enabled, Suspended, "" (none or not S3)
  std::optional<double> retention_days;
  bool compliance = false;
  bool s3 = false;
};

// Looks at one repository. `passphrase` may be empty (the key mode then stays unknown).
RepositorySecurity inspect_repository(std::unique_ptr<store::ObjectStore> store,
                                      const Secret& passphrase);

// Findings (check "backup-security") for the report.
std::vector<cluster::Finding> security_findings(const RepositorySecurity& r);

}  // namespace pvesafe::jobs
