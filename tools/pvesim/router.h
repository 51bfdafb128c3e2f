// Dispatch of /api2/json requests: path patterns with {variables}, authentication, the node proxy
// rule (a path under /nodes/{node}/ on an offline node answers 595), the {"data": ...} envelope and
// PVE's error responses, and the slow/malformed fault switches.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "auth.h"
#include "state.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pvesim {

struct Ctx {
  Sim& sim;
  Identity who;
  std::map<std::string, std::string> vars;  // path variables
  Params params;                            // query string and form/JSON body
  json total;                               // set to add "total" to the envelope
  std::string raw_data;                     // pre-serialized "data" (fast path for big lists)

  const std::string& var(const std::string& name) const { return vars.at(name); }
  void require(const std::string& acl_path, const std::string& priv) const {
    pvesim::require(who, acl_path, priv);
  }
  bool can(const std::string& priv) const { return role_has(who.role, priv); }
  // The {node} of the path, checked to exist and be online.
  Node& node() const { return sim.online_node(vars.at("node")); }
  int vmid() const;
};

using Handler = std::function<json(Ctx&)>;

class Router {
 public:
  // pattern like "/nodes/{node}/qemu/{vmid}/status/current"; a trailing "{name*}" takes the rest.
  void add(const std::string& method, const std::string& pattern, Handler h, bool world = false);
  // Handles one /api2/json request (path relative to /api2/json).
  void handle(Sim& sim, const httplib::Request& req, httplib::Response& res,
              const std::string& rel_path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segs;
    Handler h;
    bool world;
  };
  std::vector<Route> routes_;
};

void render_error(httplib::Response& res, const ApiError& e);

void register_access_routes(Router& r);
void register_cluster_routes(Router& r);
void register_ha_routes(Router& r);
void register_node_routes(Router& r);
void register_guest_routes(Router& r);
void register_storage_routes(Router& r);
void register_task_routes(Router& r);
void register_vzdump_routes(Router& r);
void register_misc_routes(Router& r);

}  // namespace pvesim
