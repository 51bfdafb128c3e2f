#include "store/request_json.h"

namespace pvesafe::store {

nlohmann::json requests_json(const RequestCounts& r, uint64_t bytes) {
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
  return {{"total", r.total()},
          {"put", r.puts},
          {"get", r.gets},
          {"head", r.heads},
          {"list", r.lists},
          {"delete", r.deletes},
          {"bytes_sent", r.bytes_sent},
          {"bytes_received", r.bytes_received},
          {"per_gib", gib > 0 ? static_cast<double>(r.total()) / gib : 0.0}};
}

}  // namespace pvesafe::store
