// What a piece of work cost in store requests, as reported in --json output and in catalog
// details ("requests"): counts per request class, bytes moved and requests per GiB of `bytes`
// (the data backed up or restored), which is what S3 bills per request class.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "store/object_store.h"

namespace pvesafe::store {

nlohmann::json requests_json(const RequestCounts& r, uint64_t bytes);

}  // namespace pvesafe::store
