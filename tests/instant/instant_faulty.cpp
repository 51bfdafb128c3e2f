// pvesafe-instant-faulty: the instant-restore job with its disk in-process, as `pvesafe
// instant-restore --image` runs it, but behind FaultyBlockSource: once the guest is healthy
// every read fails with kIntegrity (a backup whose chunks stop authenticating). The job must
// stop the copy with that category and message; this driver then stops the guest and exits
// with the job's exit code, printing the result as JSON.
//
//   pvesafe-instant-faulty IMAGE TARGET RUN_DIR KERNEL INITRD APPEND ACCEL
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/faulty_block_source.h"
#include "jobs/instant_restore.h"
#include "qemu/qmp_client.h"

using namespace pvesafe;

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: pvesafe-instant-faulty IMAGE TARGET RUN_DIR KERNEL INITRD APPEND ACCEL\n";
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("log"));  // stdout carries JSON
  auto faulty = std::make_shared<FaultyBlockSource>(std::make_shared<FileBlockSource>(argv[1]));
  std::atomic<bool> cancel{false};
  std::string failed_message;
  jobs::InstantRestoreOptions o;
  o.disk = faulty;
  o.target = argv[2];
  o.run_dir = argv[3];
  o.machine.kernel = argv[4];
  o.machine.initrd = argv[5];
  o.machine.append = argv[6];
  o.machine.accel = argv[7];
  o.machine.memory_mib = 256;
  o.health.send = "ping";
  o.health.expect = "PVESAFE pong";
  o.cancel = &cancel;
  o.progress = [&](const jobs::InstantProgress& p) {
    if (p.phase == jobs::InstantProgress::Phase::kHealthy) faulty->fail_all(Errc::kIntegrity);
    if (p.phase == jobs::InstantProgress::Phase::kFailed) {
      failed_message = p.message;
      cancel = true;  // the job would serve the guest until it stops; end it here
    }
  };
  try {
    auto r = jobs::run_instant_restore(o);
    nlohmann::json j{{"copied", r.copied},
                     {"healthy", r.healthy},
                     {"reported", failed_message},
                     {"guest_running", r.guest_running}};
    if (r.failure) {
      j["error"] = r.failure->message();
      j["category"] = std::string(errc_name(r.failure->code()));
    }
    std::cout << j.dump() << std::endl;
    if (r.guest_running) {
      try {
        qemu::QmpClient::connect(r.qmp_socket).execute("quit");
      } catch (const std::exception&) {
      }
    }
    return r.failure ? exit_code(r.failure->code()) : 0;
  } catch (const Error& e) {
    std::cerr << "pvesafe-instant-faulty: " << e.what() << "\n";
    return exit_code(e.code());
  }
}
