// QmpClient: the QEMU Machine Protocol over QEMU's Unix socket (-qmp unix:PATH,server=on).
//
// connect() reads the greeting and enters command mode (qmp_capabilities). execute() sends one
// command and returns its "return" value; a QMP error reply throws Error(kRemote) carrying
// QEMU's description. Events that arrive while waiting for a reply are kept, in order, for
// wait_event()/take_events(). A closed socket (QEMU exited) throws Error(kRemote). Every wait
// has a deadline. Not thread-safe: one job thread drives one client.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace pvesafe::qemu {

class QmpClient {
 public:
  using Json = nlohmann::json;
  using Millis = std::chrono::milliseconds;

  // Retries connecting until `timeout` (QEMU may still be creating the socket).
  static QmpClient connect(const std::string& socket_path, Millis timeout = Millis(10000));

  QmpClient(QmpClient&& other) noexcept;
  QmpClient& operator=(QmpClient&& other) noexcept;
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;
  ~QmpClient();

  Json execute(const std::string& command, const Json& arguments = Json::object(),
               Millis timeout = Millis(60000));
  // Waits for the next event named `name` for which `match` holds (any, if not given); other
  // events stay queued. nullopt on timeout.
  std::optional<Json> wait_event(const std::string& name, Millis timeout,
                                 const std::function<bool(const Json&)>& match = {});
  // Reads whatever has arrived within `timeout` (0: only what is already there) and returns
  // every queued event, oldest first.
  std::vector<Json> take_events(Millis timeout = Millis(0));
  const Json& greeting() const { return greeting_; }
  void close();

 private:
  explicit QmpClient(int fd) : fd_(fd) {}
  // Reads one message; nullopt when nothing complete arrived by the deadline.
  std::optional<Json> read_message(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
  std::deque<Json> events_;
  Json greeting_;
  uint64_t next_id_ = 1;
  std::string path_;
};

}  // namespace pvesafe::qemu
