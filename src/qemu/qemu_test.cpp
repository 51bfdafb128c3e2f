// QmpClient and SerialConsole against scripted peers on Unix sockets (QEMU's side of QMP as
// docs/interop/qmp-spec describes it: greeting, capabilities negotiation, replies with the
// request's id, asynchronous events in between), and start_daemonized() with stand-in
// binaries. The real QEMU drives them in tests/instant/.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "qemu/launch.h"
#include "qemu/nbd_blockdev.h"
#include "qemu/qmp_client.h"
#include "qemu/serial_console.h"

namespace pvesafe::qemu {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pvesafe-qemu-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

// A one-connection server: accepts, then runs `script` with the connected socket.
class FakePeer {
 public:
  FakePeer(const std::string& path, std::function<void(int)> script) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    thread_ = std::thread([this, script] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        script(c);
        ::close(c);
      }
    });
  }
  ~FakePeer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }

 private:
  int fd_;
  std::thread thread_;
};

void say(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size());
}

std::string hear_line(int fd) {
  std::string line;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

TEST(QmpClient, NegotiatesExecutesAndKeepsEventsInOrder) {
  TempDir d;
  const std::string sock = d / "qmp.sock";
  FakePeer peer(sock, [](int c) {
    say(c,
        R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}})"
        "\n");
    Json caps = Json::parse(hear_line(c));
    EXPECT_EQ(caps["execute"], "qmp_capabilities");
    say(c, Json{{"return", Json::object()}, {"id", caps["id"]}}.dump() + "\n");
    Json q = Json::parse(hear_line(c));
    EXPECT_EQ(q["execute"], "query-block-jobs");
    // An event first, a reply split across two writes, then another event.
    say(c,
        R"({"event": "BLOCK_JOB_READY", "data": {"device": "copy"}, "timestamp": {"seconds": 1, "microseconds": 0}})"
        "\n");
    std::string reply =
        Json{{"return", Json::array({Json{{"device", "copy"}, {"offset", 5}, {"len", 10}}})},
             {"id", q["id"]}}
            .dump() +
        "\n";
    say(c, reply.substr(0, 7));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    say(c, reply.substr(7));
    say(c,
        R"({"event": "BLOCK_JOB_COMPLETED", "data": {"device": "copy", "error": "Input/output error"}})"
        "\n");
    Json bad = Json::parse(hear_line(c));
    say(c, Json{{"error", {{"class", "GenericError"}, {"desc", "Node 'x' not found"}}},
                {"id", bad["id"]}}
                   .dump() +
               "\n");
    hear_line(c);  // until the client closes
  });
  auto qmp = QmpClient::connect(sock, std::chrono::milliseconds(5000));
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);
  auto jobs = qmp.execute("query-block-jobs");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["offset"], 5);
  auto done = qmp.wait_event("BLOCK_JOB_COMPLETED", std::chrono::milliseconds(2000));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ((*done)["data"]["error"], "Input/output error");
  auto rest = qmp.take_events();
  ASSERT_EQ(rest.size(), 1u);  // READY stayed queued, in order
  EXPECT_EQ(rest[0]["event"], "BLOCK_JOB_READY");
  try {
    qmp.execute("blockdev-del", {{"node-name", "x"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kRemote);
    EXPECT_NE(e.message().find("Node 'x' not found"), std::string::npos);
  }
  qmp.close();
}

TEST(QmpClient, QemuGoingAwayIsARemoteError) {
  TempDir d;
  const std::string sock = d / "qmp.sock";
  FakePeer peer(sock, [](int c) {
    say(c, R"({"QMP": {"version": {}, "capabilities": []}})"
           "\n");
    Json caps = Json::parse(hear_line(c));
    say(c, Json{{"return", Json::object()}, {"id", caps["id"]}}.dump() + "\n");
    hear_line(c);  // a command, then the peer closes without answering
  });
  auto qmp = QmpClient::connect(sock, std::chrono::milliseconds(5000));
  try {
    qmp.execute("query-status");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kRemote);
  }
}

TEST(QmpClient, NoSocketIsARemoteErrorAfterTheTimeout) {
  TempDir d;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(QmpClient::connect(d / "none.sock", std::chrono::milliseconds(300)), Error);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
}

TEST(SerialConsole, LinesBothWays) {
  TempDir d;
  const std::string sock = d / "serial.sock";
  FakePeer peer(sock, [](int c) {
    say(c, "kernel noise\r\nPVESAFE-GUEST-READY 1.0\r\npartial");
    EXPECT_EQ(hear_line(c), "ping");
    say(c, " line\r\nPVESAFE pong 2.5\r\n");
  });
  auto con = SerialConsole::connect(sock);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  EXPECT_EQ(con.read_line(deadline), "kernel noise");
  EXPECT_EQ(con.read_line(deadline), "PVESAFE-GUEST-READY 1.0");
  EXPECT_FALSE(
      con.read_line(std::chrono::steady_clock::now() + std::chrono::milliseconds(50)).has_value());
  con.send_line("ping");
  EXPECT_EQ(con.read_line(deadline), "partial line");
  EXPECT_EQ(con.read_line(deadline), "PVESAFE pong 2.5");
  EXPECT_THROW(con.read_line(deadline), Error);  // the peer closed
}

TEST(Launch, ArgumentsForATestGuest) {
  Machine m;
  m.accel = "tcg";
  m.memory_mib = 256;
  m.kernel = "/k";
  m.initrd = "/i";
  m.append = "console=ttyS0";
  m.extra_args = {"-cpu", "max"};
  auto a = base_args(m, "/r/qmp.sock", "/r/serial.sock");
  auto has = [&](const std::string& k, const std::string& v) {
    for (size_t i = 0; i + 1 < a.size(); ++i) {
      if (a[i] == k && a[i + 1] == v) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("-accel", "tcg"));
  EXPECT_TRUE(has("-m", "256"));
  EXPECT_TRUE(has("-kernel", "/k"));
  EXPECT_TRUE(has("-append", "console=ttyS0"));
  EXPECT_TRUE(has("-qmp", "unix:/r/qmp.sock,server=on,wait=off"));
  EXPECT_TRUE(has("-cpu", "max"));
  EXPECT_EQ(a.front(), "-nodefaults");
}

TEST(Launch, StartFailuresCarryQemusMessage) {
  TempDir d;
  try {
    start_daemonized(d / "no-such-qemu", {}, d / "pid");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
  }
  // A stand-in that fails as QEMU does: a message on stderr, exit 1.
  const std::string fake = d / "qemu-fails";
  std::ofstream(fake)
      << "#!/bin/sh\necho \"qemu-system-x86_64: -blockdev x: Could not open 'x'\" >&2\nexit 1\n";
  ::chmod(fake.c_str(), 0755);
  try {
    start_daemonized(fake, {"-blockdev", "x"}, d / "pid");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kRemote);
    EXPECT_NE(e.message().find("Could not open 'x'"), std::string::npos) << e.message();
  }
  // One that daemonizes: writes its pid file (the last argument) and leaves a child running.
  const std::string ok = d / "qemu-ok";
  std::ofstream(ok) << "#!/bin/sh\nfor a; do pf=$a; done\nsleep 30 &\necho $! > \"$pf\"\nexit 0\n";
  ::chmod(ok.c_str(), 0755);
  pid_t pid = start_daemonized(ok, {}, d / "pid");
  EXPECT_TRUE(process_alive(pid));
  ::kill(pid, SIGKILL);
  EXPECT_TRUE(wait_gone(pid, std::chrono::seconds(5)));
}

TEST(NbdBlockdev, UrisBecomeDriverOptions) {
  auto u = nbd_blockdev("nbd+unix:///drive-scsi0?socket=/run/pvesafe/a,b.sock", "src");
  EXPECT_EQ(u["driver"], "nbd");
  EXPECT_EQ(u["node-name"], "src");
  EXPECT_EQ(u["server"]["type"], "unix");
  EXPECT_EQ(u["server"]["path"], "/run/pvesafe/a,b.sock");  // a comma: why JSON, not a string
  EXPECT_EQ(u["export"], "drive-scsi0");
  EXPECT_EQ(u["read-only"], true);
  EXPECT_EQ(nbd_blockdev("nbd+unix:///?socket=/s", "n")["export"], "");
  auto t = nbd_blockdev("nbd://10.0.0.5:10810/disk%20one", "n");
  EXPECT_EQ(t["server"]["type"], "inet");
  EXPECT_EQ(t["server"]["host"], "10.0.0.5");
  EXPECT_EQ(t["server"]["port"], "10810");
  EXPECT_EQ(t["export"], "disk one");
  auto v6 = nbd_blockdev("nbd://[::1]/x", "n");
  EXPECT_EQ(v6["server"]["host"], "::1");
  EXPECT_EQ(v6["server"]["port"], "10809");
  for (const char* bad : {"nbd+unix:///x", "nbd://", "nbd://h:p/x", "file:///x", "nbd://[::1/x",
                          "nbd+unix:///%zz?socket=/s"}) {
    try {
      nbd_blockdev(bad, "n");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kUsage) << bad;
    }
  }
  try {
    nbd_blockdev("nbds://h:1/x", "n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
  }
}

}  // namespace
}  // namespace pvesafe::qemu
