// Blocks SIGPIPE in the calling thread while a guard lives, so a write to a pipe or socket whose
// reader is gone fails with EPIPE instead of killing the process; a SIGPIPE raised meanwhile is
// consumed when the guard ends. For threads that feed a child process (lzop, gpg) or a peer.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace pvesafe {

class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending_before_);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&pending_before_, SIGPIPE)) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      timespec zero{0, 0};
      sigtimedwait(&pipe, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_;
  sigset_t pending_before_;
};

}  // namespace pvesafe
