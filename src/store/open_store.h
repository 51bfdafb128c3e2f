// open_store() turns a repository location into an ObjectStore:
//   /path, ./path, file:///path   local directory store (src/store/local)
//   s3://bucket/prefix            S3 store (src/store/s3, make_s3_store)
// Options come from the CLI's repeatable -o KEY=VALUE (see the S3 store for its keys).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/object_store.h"

namespace pvesafe::store {

struct StoreOptions {
  std::map<std::string, std::string> values;  // from -o KEY=VALUE
};

// Throws kUsage for an unknown scheme, kConfig for invalid options.
std::unique_ptr<ObjectStore> open_store(const std::string& location, const StoreOptions& options);

// Parses "KEY=VALUE" strings (the CLI's -o flags); kUsage on a string without '='.
StoreOptions parse_store_options(const std::vector<std::string>& key_values);

}  // namespace pvesafe::store
