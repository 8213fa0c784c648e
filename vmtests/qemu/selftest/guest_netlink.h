// Just enough rtnetlink to create the virtual links the datapath tests use (veth, bridge), so the
// guest self-test checks the kernel can build them without relying on an `ip` binary.
#pragma once

#include <string>

#include "common/result.h"

namespace ferry::vmtest {

// Creates a veth pair <name> <-> <peer> in the calling thread's network namespace.
Result<void> CreateVethPair(const std::string& name, const std::string& peer);

// Creates a bridge device <name>.
Result<void> CreateBridge(const std::string& name);

// Makes <name> a port of bridge <bridge>.
Result<void> AttachToBridge(const std::string& name, const std::string& bridge);

}  // namespace ferry::vmtest
