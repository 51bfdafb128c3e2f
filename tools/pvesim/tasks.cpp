#include "tasks.h"

#include <chrono>
#include <thread>

#include "pmxcfs.h"

namespace pvesim {

void TaskRun::log(const std::string& line) {
  std::lock_guard<std::mutex> lk(sim_.mu);
  t_->log.push_back(line);
}

void TaskRun::warn(const std::string& line) {
  ++warnings;
  log("WARN: " + line);
}

void TaskRun::sleep(double seconds) {
  if (seconds > 0)
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
}

namespace {

// Pops a matching entry of an injected-fault list.
bool take_fault(std::vector<std::pair<std::string, std::string>>& list, const TaskSpec& s) {
  for (auto it = list.begin(); it != list.end(); ++it) {
    if ((it->first.empty() || it->first == s.node) &&
        (it->second.empty() || it->second == s.type)) {
      list.erase(it);
      return true;
    }
  }
  return false;
}

constexpr size_t kMaxTasks = 5000;

}  // namespace

std::string start_task(Sim& sim, TaskSpec spec) {
  Node* n = sim.node(spec.node);
  auto t = std::make_shared<Task>();
  t->node = spec.node;
  t->type = spec.type;
  t->id = spec.id;
  t->user = spec.user;
  t->starttime = sim.now();
  t->pid = n ? n->next_pid++ : 0x1000;
  if (n && n->next_pid > 0x3fffff) n->next_pid = 0x1000;
  t->pstart = static_cast<uint64_t>((t->starttime - (n ? n->boot_time : 0)) * 100);
  t->upid = "UPID:" + t->node + ":" + hex_upper(t->pid, 8) + ":" + hex_upper(t->pstart, 8) + ":" +
            hex_upper(static_cast<uint64_t>(t->starttime), 8) + ":" + t->type + ":" + t->id + ":" +
            t->user + ":";
  sim.tasks[t->upid] = t;
  sim.task_order.push_back(t);
  while (sim.task_order.size() > kMaxTasks) {
    if (sim.task_order.front()->running) break;
    sim.tasks.erase(sim.task_order.front()->upid);
    sim.task_order.pop_front();
  }
  bool inject_error = take_fault(sim.faults.fail_next, spec);
  bool inject_warning = !inject_error && take_fault(sim.faults.warn_next, spec);
  ++sim.running_workers;
  std::thread([&sim, t, spec = std::move(spec), inject_error, inject_warning]() mutable {
    TaskRun run(sim, t);
    std::string error;
    while (sim.hold_tasks.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    try {
      if (inject_error) {
        run.sleep(0.05);
        throw std::runtime_error("simulated failure (pvesim fail-next-task)");
      }
      spec.body(run);
      if (inject_warning) run.warn("simulated warning (pvesim fail-next-task mode=warnings)");
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
    {
      std::lock_guard<std::mutex> lk(sim.mu);
      t->endtime = sim.now();
      if (!error.empty()) {
        t->exitstatus = error;
        t->log.push_back("TASK ERROR: " + error);
        if (spec.on_error) spec.on_error();
      } else if (run.warnings > 0) {
        t->exitstatus = "WARNINGS: " + std::to_string(run.warnings);
        t->log.push_back("TASK WARNINGS: " + std::to_string(run.warnings));
      } else {
        t->exitstatus = "OK";
        t->log.push_back("TASK OK");
      }
      t->running = false;
      if (sim.pmxcfs) {
        try {
          sim.pmxcfs->render();
        } catch (const std::exception&) {
        }
      }
    }
    --sim.running_workers;
  }).detach();
  return t->upid;
}

json task_status(const Task& t) {
  json j{{"upid", t.upid},
         {"node", t.node},
         {"pid", t.pid},
         {"pstart", t.pstart},
         {"starttime", t.starttime},
         {"type", t.type},
         {"id", t.id},
         {"user", t.user},
         {"status", t.running ? "running" : "stopped"}};
  if (!t.running) j["exitstatus"] = t.exitstatus;
  return j;
}

json task_list_entry(const Task& t) {
  json j{{"upid", t.upid},           {"node", t.node}, {"pid", t.pid}, {"pstart", t.pstart},
         {"starttime", t.starttime}, {"type", t.type}, {"id", t.id},   {"user", t.user}};
  if (!t.running) {
    j["endtime"] = t.endtime;
    j["status"] = t.exitstatus;
  }
  return j;
}

void wait_for_tasks(Sim& sim) {
  for (int i = 0; i < 100 && sim.running_workers.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace pvesim
