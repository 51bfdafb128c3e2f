#include "router.h"

#include <httplib.h>

#include <chrono>
#include <optional>
#include <thread>

#include "pmxcfs.h"

namespace pvesim {

int Ctx::vmid() const {
  const std::string& v = vars.at("vmid");
  size_t pos = 0;
  long long id = 0;
  try {
    id = std::stoll(v, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos == 0 || pos != v.size())
    param_error("vmid", "type check ('integer') failed - got '" + v + "'");
  if (id < 100) param_error("vmid", "value must have a minimum value of 100");
  if (id > 999999999) param_error("vmid", "value must have a maximum value of 999999999");
  return static_cast<int>(id);
}

void Router::add(const std::string& method, const std::string& pattern, Handler h, bool world) {
  Route r{method, split(pattern.substr(1), '/'), std::move(h), world};
  routes_.push_back(std::move(r));
}

void render_error(httplib::Response& res, const ApiError& e) {
  json body{{"data", nullptr}};
  if (!e.errors.is_null()) body["errors"] = e.errors;
  // PVE sends the message as the HTTP reason phrase; it is repeated here in "message" because the
  // HTTP library always writes the standard phrase.
  body["message"] = e.what();
  res.status = e.status;
  res.reason = e.what();
  res.set_content(body.dump(), "application/json;charset=UTF-8");
}

namespace {

void collect_params(const httplib::Request& req, Params& p) {
  for (const auto& [k, v] : req.params) p[k] = v;
  std::string ct = req.get_header_value("Content-Type");
  if (req.body.empty()) return;
  if (starts_with(ct, "application/json")) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw ApiError(400, "malformed JSON body");
    for (auto& [k, v] : j.items()) {
      if (v.is_string())
        p[k] = v.get<std::string>();
      else if (v.is_boolean())
        p[k] = v.get<bool>() ? "1" : "0";
      else if (v.is_array()) {
        std::vector<std::string> parts;
        for (auto& e : v) parts.push_back(e.is_string() ? e.get<std::string>() : e.dump());
        p[k] = join(parts, ",");
      } else
        p[k] = v.dump();
    }
  } else {
    parse_form(req.body, p);
  }
}

}  // namespace

void Router::handle(Sim& sim, const httplib::Request& req, httplib::Response& res,
                    const std::string& rel) const {
  std::string path = rel.empty() ? "/" : rel;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  {
    int slow = 0;
    bool malformed = false;
    {
      std::lock_guard<std::mutex> lk(sim.mu);
      if (sim.faults.slow_ms > 0 && starts_with(path, sim.faults.slow_path))
        slow = sim.faults.slow_ms;
      for (const auto& pre : sim.faults.malformed_prefixes)
        malformed = malformed || starts_with(path, pre);
    }
    if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(slow));
    if (malformed) {
      // A body cut off in the middle, as a broken proxy or a crashed worker would leave it.
      res.status = 200;
      res.set_content("{\"data\":[{\"id\":\"node/", "application/json;charset=UTF-8");
      return;
    }
  }
  std::vector<std::string> segs = split(path.substr(1), '/');
  if (path == "/") segs.clear();
  const Route* match = nullptr;
  std::map<std::string, std::string> vars;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> v;
    bool ok = true;
    size_t i = 0;
    for (; i < r.segs.size(); ++i) {
      const std::string& s = r.segs[i];
      if (s.size() > 3 && s.front() == '{' && s.substr(s.size() - 2) == "*}") {
        if (i >= segs.size()) {
          ok = false;
          break;
        }
        std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
        v[s.substr(1, s.size() - 3)] = join(rest, "/");
        i = segs.size();
        break;
      }
      if (i >= segs.size()) {
        ok = false;
        break;
      }
      if (s.front() == '{')
        v[s.substr(1, s.size() - 2)] = segs[i];
      else if (s != segs[i]) {
        ok = false;
        break;
      }
    }
    if (!ok || i != segs.size()) continue;
    if (r.method == req.method) {
      match = &r;
      vars = std::move(v);
      break;
    }
  }
  try {
    if (!match) throw ApiError(501, "Method '" + req.method + " " + path + "' not implemented");
    Ctx ctx{sim, {}, vars, {}, nullptr, {}};
    collect_params(req, ctx.params);
    std::unique_lock<std::mutex> lk(sim.mu);
    // Files written into /etc/pve since the last request are what the cluster runs with now.
    // ... and whatever this request changes shows up there when it returns.
    std::optional<PmxcfsRound> round;
    round.emplace(sim, req.method != "GET");
    if (!match->world) ctx.who = authenticate(sim, req);
    // Requests for a node are proxied to it by the node that received them; an unreachable node
    // answers 595 (the proxy's status for a failed connection).
    if (vars.count("node")) sim.online_node(vars.at("node"));
    json data = match->h(ctx);
    round.reset();
    lk.unlock();
    if (!ctx.raw_data.empty()) {
      res.status = 200;
      res.set_content("{\"data\":" + ctx.raw_data + "}", "application/json;charset=UTF-8");
      return;
    }
    json body = json::object();
    body["data"] = std::move(data);
    if (!ctx.total.is_null()) body["total"] = std::move(ctx.total);
    res.status = 200;
    res.set_content(body.dump(), "application/json;charset=UTF-8");
  } catch (const ApiError& e) {
    render_error(res, e);
  } catch (const json::exception& e) {
    render_error(res, ApiError(500, std::string("internal error: ") + e.what()));
  } catch (const std::exception& e) {
    render_error(res, ApiError(500, e.what()));
  }
}

}  // namespace pvesim
