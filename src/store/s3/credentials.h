// AWS credentials and the provider chain, in the order the AWS CLI uses:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. web identity from the environment: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
//      (STS AssumeRoleWithWebIdentity)
//   3. the profile (s3.profile, else AWS_PROFILE, else "default") in ~/.aws/credentials and
//      ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE): role_arn + source_profile
//      (STS AssumeRole signed with the source profile's keys), role_arn +
//      web_identity_token_file, static keys, credential_process
//   4. EC2 instance metadata (IMDSv2: token PUT, then GET; AWS_EC2_METADATA_SERVICE_ENDPOINT,
//      AWS_EC2_METADATA_DISABLED=true turns it off)
// Temporary credentials are cached and refreshed five minutes before they expire; get() is
// safe to call from several threads. Secrets never appear in messages.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace pvesafe::store::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string source;  // "environment", "profile default", "instance metadata", ... (no secrets)
};

class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // Current credentials; throws pvesafe::Error (kAuth/kConfig) when none can be had.
  virtual Credentials get() = 0;
  // Forget cached temporary credentials (after the server said they expired).
  virtual void invalidate() {}
};

// Where the chain looks. Tests replace env and home; the defaults read the process.
struct CredentialContext {
  std::function<std::optional<std::string>(const std::string&)> env;  // default: getenv
  std::string home;             // default: $HOME
  std::string profile;          // s3.profile; empty: AWS_PROFILE, else "default"
  std::string region;           // region for STS; empty: us-east-1
  std::string sts_endpoint;     // override (tests, private clouds); else AWS_ENDPOINT_URL_STS
  std::string ca_bundle;        // for STS over HTTPS
  std::function<std::chrono::system_clock::time_point()> now;  // default: system clock
};

// A provider that always returns the same credentials.
std::shared_ptr<CredentialProvider> static_credentials(Credentials c);

// The chain above. Resolution happens on the first get(); errors name what was tried.
std::shared_ptr<CredentialProvider> default_credential_chain(CredentialContext ctx);

// Parses an ISO 8601 UTC time such as 2026-11-26T01:00:00Z or 2026-11-26T01:00:00.000Z.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& s);
std::string format_iso8601(std::chrono::system_clock::time_point t);

// INI profiles: section name -> key -> value. Config-file sections "profile X" become "X".
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile parse_aws_ini(const std::string& text, bool config_file);

}  // namespace pvesafe::store::s3
