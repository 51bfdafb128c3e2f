// The control plane for tests and demos, under https://HOST:PORT/pvesim/... (no authentication,
// loopback clients only): node offline/online, injected task failures, slow and malformed
// responses, service states, package versions, the simulated clock, guest inspection, reset.
#pragma once

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pvesim {

class Sim;
void handle_control(Sim& sim, const httplib::Request& req, httplib::Response& res);

}  // namespace pvesim
