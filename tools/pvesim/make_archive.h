// `pvesim make-archive`: writes vzdump archives and the disks behind them without a running
// simulator, for benchmarks and tests (see docs/pvesim.md, "Archives").
#pragma once

namespace pvesim {

// argv[0] is "make-archive". Returns the process exit code.
int make_archive_main(int argc, char** argv);

}  // namespace pvesim
