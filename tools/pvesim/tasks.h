// Worker tasks with real UPIDs (UPID:node:PID:PSTART:STARTTIME:type:id:user:) and the PVE
// lifecycle: "running", then "stopped" with exitstatus "OK", "WARNINGS: N" or the error text, the
// log ending in "TASK OK" / "TASK WARNINGS: N" / "TASK ERROR: msg".
#pragma once

#include <functional>
#include <string>

#include "state.h"

namespace pvesim {

// Handle given to a task body. Bodies run on their own thread WITHOUT Sim::mu held; they lock it
// themselves (with lock()) to touch the cluster state.
class TaskRun {
 public:
  TaskRun(Sim& sim, std::shared_ptr<Task> t) : sim_(sim), t_(std::move(t)) {}
  void log(const std::string& line);   // appends a log line (takes the lock)
  void warn(const std::string& line);  // a "WARN: " line, counted for "WARNINGS: N"
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(sim_.mu); }
  Sim& sim() { return sim_; }
  const Task& task() const { return *t_; }
  void sleep(double seconds);
  int warnings = 0;

 private:
  Sim& sim_;
  std::shared_ptr<Task> t_;
};

struct TaskSpec {
  std::string node, type, id, user;
  // The work; throw std::exception to end the task with "TASK ERROR: <what()>".
  std::function<void(TaskRun&)> body;
  // Called with Sim::mu held when the task ends in error (also for an injected failure).
  std::function<void()> on_error;
};

// Registers the task (call with Sim::mu held) and starts its thread; returns the UPID.
std::string start_task(Sim& sim, TaskSpec spec);
// Task status object of GET /nodes/{node}/tasks/{upid}/status.
json task_status(const Task& t);
// Entry of the task lists (/nodes/{node}/tasks, /cluster/tasks).
json task_list_entry(const Task& t);
// Waits (at most a few seconds) for running task threads, at shutdown.
void wait_for_tasks(Sim& sim);

}  // namespace pvesim
