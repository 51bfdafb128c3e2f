// The HA stack of a Proxmox VE cluster after a node is lost, as pve-ha-manager does it
// (src/PVE/HA/Manager.pm, NodeStatus.pm, LRM.pm, Env/PVE2.pm):
//
//   * the CRM works in rounds (10 s); a node outside the quorate partition becomes "unknown";
//   * a service on it stays "started" until the node has been offline for the fence delay (60 s),
//     then goes to "fence", and the node to "fence";
//   * the node counts as fenced once the CRM gets the node's agent lock, which pmxcfs frees 120 s
//     after the node's LRM last renewed it (by then its watchdog, 60 s, has reset the node);
//   * then each of its services goes to "recovery" and, in the same round, to "started" on a new
//     node: the highest-priority online nodes of its node-affinity rule (PVE 9) or HA group
//     (PVE 8), or every online node when it has none (or a non-strict one with no member left);
//     among them the one with the fewest HA services. A strict rule or restricted group with no
//     member online leaves it in "recovery" until one returns;
//   * the LRM of the new node starts it in its next round (10 s), with a real start task.
//
// A cluster without quorum does nothing. Every change is logged with pve-ha-crm's and
// pve-ha-lrm's wording (GET /nodes/{node}/syslog?service=pve-ha-crm). The timings are
// pve-ha-manager's; HaRuntime::time_scale multiplies them all (--ha-time-scale 0.05: fencing in
// about 6 s) for tests.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "state.h"

namespace pvesim {

struct HaTimings {
  double crm_round = 10;      // CRM and LRM work loop ($max_time)
  double fence_delay = 60;    // NodeStatus $fence_delay
  double lock_timeout = 120;  // pmxcfs lock lifetime
};
HaTimings ha_timings(const Sim& sim);

// Monotonic seconds, the HA manager's clock.
double ha_clock();

// One CRM round (with the LRMs' work) at `now`. Call with Sim::mu held.
void ha_round(Sim& sim, double now);

// The control plane's offline?recover=1: `node` counts as fenced at once and its services are
// recovered and running on their new nodes before this returns. Returns [{sid, node}].
json ha_recover_now(Sim& sim, const std::string& node);

// The CRM's state of a service while it handles it (fence, recovery), else "".
std::string ha_crm_state(const Sim& sim, const std::string& sid);
// The manager's state of a node: online, unknown or fence.
std::string ha_node_state(const Sim& sim, const std::string& node);

// Syslog lines of the HA daemons on `node` (service "" = both), oldest first.
json ha_syslog(const Sim& sim, const std::string& node, const std::string& service);

// Runs ha_round on its own thread at the CRM's pace until destroyed.
class HaManagerThread {
 public:
  explicit HaManagerThread(Sim& sim);
  ~HaManagerThread();
  HaManagerThread(const HaManagerThread&) = delete;
  HaManagerThread& operator=(const HaManagerThread&) = delete;

 private:
  Sim& sim_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pvesim
