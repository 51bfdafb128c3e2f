// Task endpoints: /nodes/{node}/tasks (list with PVE's filters), .../tasks/{upid}/status and /log.
#include "router.h"
#include "tasks.h"

namespace pvesim {

namespace {

Task& find_task(Ctx& c) {
  auto it = c.sim.tasks.find(c.var("upid"));
  if (it == c.sim.tasks.end() || it->second->node != c.var("node")) {
    if (!starts_with(c.var("upid"), "UPID:"))
      param_error("upid", "unable to parse worker upid '" + c.var("upid") + "'");
    fail("no such task");
  }
  Task& t = *it->second;
  if (t.user != c.who.user && !starts_with(c.who.user, t.user + "!"))
    c.require("/nodes/" + t.node, "Sys.Audit");
  return t;
}

}  // namespace

void register_task_routes(Router& r) {
  r.add("GET", "/nodes/{node}/tasks", [](Ctx& c) {
    Node& n = c.node();
    int64_t start = int_param(c.params, "start", 0, 0, INT64_MAX);
    int64_t limit = int_param(c.params, "limit", 50, 0, INT64_MAX);
    int64_t vmid = int_param(c.params, "vmid", 0, 0, 999999999);
    int64_t since = int_param(c.params, "since", 0, 0, INT64_MAX);
    int64_t until = int_param(c.params, "until", 0, 0, INT64_MAX);
    bool errors = bool_param(c.params, "errors", false);
    std::string typefilter = c.params.count("typefilter") ? c.params.at("typefilter") : "";
    std::string userfilter = c.params.count("userfilter") ? c.params.at("userfilter") : "";
    std::string source = c.params.count("source") ? c.params.at("source") : "archive";
    std::string statusfilter = c.params.count("statusfilter") ? c.params.at("statusfilter") : "";
    bool audit = c.can("Sys.Audit");
    json out = json::array();
    int64_t matched = 0;
    for (auto it = c.sim.task_order.rbegin(); it != c.sim.task_order.rend(); ++it) {
      const Task& t = **it;
      if (t.node != n.name) continue;
      if (!audit && t.user != c.who.user) continue;
      if (source == "active" && !t.running) continue;
      if (source == "archive" && t.running) continue;
      if (vmid && t.id != std::to_string(vmid)) continue;
      if (!typefilter.empty() && t.type != typefilter) continue;
      if (!userfilter.empty() && t.user.find(userfilter) == std::string::npos) continue;
      if (errors && (t.running || t.exitstatus == "OK")) continue;
      if (since && t.starttime < since) continue;
      if (until && t.starttime > until) continue;
      if (!statusfilter.empty()) {
        std::string cls = t.running                               ? "active"
                          : t.exitstatus == "OK"                  ? "ok"
                          : starts_with(t.exitstatus, "WARNINGS") ? "warning"
                                                                  : "error";
        if (("," + statusfilter + ",").find("," + cls + ",") == std::string::npos) continue;
      }
      ++matched;
      if (matched <= start || static_cast<int64_t>(out.size()) >= limit) continue;
      out.push_back(task_list_entry(t));
    }
    c.total = matched;
    return out;
  });
  r.add("GET", "/nodes/{node}/tasks/{upid}", [](Ctx& c) {
    find_task(c);
    return json::array({{{"name", "log"}}, {{"name", "status"}}});
  });
  r.add("GET", "/nodes/{node}/tasks/{upid}/status",
        [](Ctx& c) { return task_status(find_task(c)); });
  r.add("GET", "/nodes/{node}/tasks/{upid}/log", [](Ctx& c) {
    Task& t = find_task(c);
    int64_t start = int_param(c.params, "start", 0, 0, INT64_MAX);
    int64_t limit = int_param(c.params, "limit", 50, 0, INT64_MAX);
    json out = json::array();
    int64_t n = static_cast<int64_t>(t.log.size());
    for (int64_t i = start; i < n && i < start + limit; ++i)
      out.push_back({{"n", i + 1}, {"t", t.log[static_cast<size_t>(i)]}});
    if (n == 0 && start == 0) out.push_back({{"n", 1}, {"t", "no content"}});
    c.total = n;
    return out;
  });
  r.add("DELETE", "/nodes/{node}/tasks/{upid}", [](Ctx& c) {
    Task& t = find_task(c);
    if (t.user != c.who.user) c.require("/nodes/" + t.node, "Sys.Modify");
    return json(nullptr);
  });
}

}  // namespace pvesim
