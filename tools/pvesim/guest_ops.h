// Helpers of the guest endpoints that other areas (vzdump, control plane) use too.
#pragma once

#include "state.h"

namespace pvesim {

// "VM" or "CT", as PVE words its messages.
inline const char* guest_word(const std::string& type) { return type == "qemu" ? "VM" : "CT"; }
// PVE's task type prefix: "qm" for qemu, "vz" for lxc.
inline std::string task_prefix(const std::string& type) { return type == "qemu" ? "qm" : "vz"; }
// 500 "VM is locked (backup)" unless the guest is unlocked (or skiplock is set).
void check_lock(const Guest& g, const Params& p);
// Applies config keys from API parameters (create / PUT config): names, memory, cores, disks.
void apply_config(Sim& sim, Guest& g, const Params& p, const std::string& node);
// Replaces the guest config with the text of a config file (from an archive).
void apply_config_text(Guest& g, const std::string& text);

}  // namespace pvesim
