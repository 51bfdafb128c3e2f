#include "store/open_store.h"

#include "core/error.h"
#include "store/local/local_store.h"
#include "store/s3/s3_store.h"

namespace pvesafe::store {

StoreOptions parse_store_options(const std::vector<std::string>& key_values) {
  StoreOptions o;
  for (const auto& kv : key_values) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(Errc::kUsage, "store option '" + kv + "' is not KEY=VALUE", "e.g. -o s3.region=us-east-1");
    }
    o.values[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return o;
}

std::unique_ptr<ObjectStore> open_store(const std::string& location, const StoreOptions& options) {
  (void)options;
  if (location.empty()) {
    throw Error(Errc::kUsage, "no repository given", "use --repo DIR|s3://bucket/prefix or PVESAFE_REPOSITORY");
  }
  if (location.rfind("file://", 0) == 0) return make_local_store(location.substr(7));
  if (location.rfind("s3://", 0) == 0) return make_s3_store(location, options);
  size_t scheme = location.find("://");
  if (scheme != std::string::npos) {
    throw Error(Errc::kUsage, "unknown repository scheme in " + location, "use a directory or s3://bucket/prefix");
  }
  return make_local_store(location);
}

}  // namespace pvesafe::store
