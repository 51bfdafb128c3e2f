// qemu-img, run as a helper: create images, read an image's size. Failures carry qemu-img's
// own message (kRemote); a missing binary is kNotFound ("install qemu-utils").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pvesafe::qemu {

// Runs `binary args...`; returns its stdout.
std::string run_qemu_img(const std::string& binary, const std::vector<std::string>& args);

// The virtual size of the image a -blockdev describes (e.g. an NBD export), via qemu-img info.
uint64_t image_size(const std::string& binary, const nlohmann::json& blockdev);

}  // namespace pvesafe::qemu
