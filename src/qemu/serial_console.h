// SerialConsole: a guest's serial port that QEMU exposes as a Unix socket chardev
// (-chardev socket,path=...,server=on). Line-oriented: send_line() writes a line, read_line()
// returns the next line the guest printed (without "\r\n"). QEMU accepts one client at a time,
// so hold it only as long as needed. A closed socket throws Error(kRemote).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace pvesafe::qemu {

class SerialConsole {
 public:
  static SerialConsole connect(
      const std::string& socket_path,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  SerialConsole(SerialConsole&& other) noexcept;
  SerialConsole& operator=(SerialConsole&& other) noexcept;
  SerialConsole(const SerialConsole&) = delete;
  SerialConsole& operator=(const SerialConsole&) = delete;
  ~SerialConsole();

  void send_line(const std::string& line);
  // nullopt when no complete line arrived by the deadline.
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline);
  void close();

 private:
  explicit SerialConsole(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buf_;
};

}  // namespace pvesafe::qemu
