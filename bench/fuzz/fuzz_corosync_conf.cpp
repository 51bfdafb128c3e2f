// corosync.conf: the parser, the typed view and the lint that reads it (cluster/).
#include "cluster/corosync_conf.h"
#include "cluster/corosync_lint.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  std::string text(fuzz::as_text(data, size));
  fuzz::refusal_ok([&] {
    auto conf = cluster::CorosyncConf::parse(text, "corosync.conf");
    conf.effective_token_ms();
    conf.total_votes();
    cluster::CorosyncLintOptions o;
    o.data_networks = {"10.0.0.0/24", "fd00::/64"};
    cluster::lint_corosync(conf, o);
    cluster::lint_config_versions({conf, conf});
  });
  return 0;
}
